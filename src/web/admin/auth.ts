// Operator sign-in for the dashboard: scrypt password hashes from config, sessions in a signed
// cookie, and a CSRF token bound to each session.
import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

const SCRYPT = { N: 16_384, r: 8, p: 1, keyLength: 32 };

function scryptAsync(password: string, salt: Buffer, N: number, r: number, p: number) {
  return new Promise<Buffer>((resolve, reject) =>
    scrypt(password, salt, SCRYPT.keyLength, { N, r, p, maxmem: 64 * 1024 * 1024 }, (e, key) =>
      e ? reject(e) : resolve(key),
    ),
  );
}

/** `scrypt$N$r$p$salt$hash` (base64url): what config's `admin.users[].passwordHash` holds. */
export async function hashAdminPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
  return [
    'scrypt',
    SCRYPT.N,
    SCRYPT.r,
    SCRYPT.p,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$');
}

/** True when `password` matches the stored hash; constant time in the hash comparison. */
export async function verifyAdminPassword(stored: string, password: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scryptAsync(
    password,
    Buffer.from(salt, 'base64url'),
    Number(n),
    Number(r),
    Number(p),
  );
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash no password matches, checked for an unknown username so both cost the same time. */
export const DECOY_HASH = `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${'A'.repeat(22)}$${'A'.repeat(43)}`;

export interface AdminSession {
  username: string;
  expiresAt: number;
  /** Random per sign-in: the CSRF token derives from it, so each session has its own. */
  nonce: string;
}

const sessionSchema = z.object({
  u: z.string().min(1).max(64),
  e: z.number().int(),
  n: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
});

/** The purpose label of the session key derived from the master key. */
export const SESSION_KEY_PURPOSE = 'admin-session';

/**
 * Signs and reads session cookies. The key is derived from the master key
 * (`sealer.deriveKey(SESSION_KEY_PURPOSE)`), so every API process sharing the master key reads
 * every other's sessions and a restart signs nobody out; no session is stored.
 */
export function createSessionSigner(key: Buffer) {
  const mac = (text: string) => createHmac('sha256', key).update(text).digest('base64url');
  const equal = (a: string, b: string) =>
    a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
  return {
    issue(username: string, expiresAt: number): { cookie: string; session: AdminSession } {
      const session = { username, expiresAt, nonce: randomBytes(16).toString('base64url') };
      const body = Buffer.from(
        JSON.stringify({ u: session.username, e: session.expiresAt, n: session.nonce }),
      ).toString('base64url');
      return { cookie: `${body}.${mac(`session:${body}`)}`, session };
    },
    /** The session of a cookie, or undefined when it is forged, malformed or expired at `now`. */
    read(cookie: string | undefined, now: number): AdminSession | undefined {
      const [body, signature, extra] = (cookie ?? '').split('.');
      if (!body || !signature || extra !== undefined) return undefined;
      if (!equal(signature, mac(`session:${body}`))) return undefined;
      let raw: unknown;
      try {
        raw = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      } catch {
        return undefined;
      }
      const parsed = sessionSchema.safeParse(raw);
      if (!parsed.success || parsed.data.e <= now) return undefined;
      return { username: parsed.data.u, expiresAt: parsed.data.e, nonce: parsed.data.n };
    },
    csrfToken(session: AdminSession): string {
      return mac(`csrf:${session.username}:${session.nonce}`);
    },
    checkCsrf(session: AdminSession, token: unknown): boolean {
      return (
        typeof token === 'string' && equal(token, mac(`csrf:${session.username}:${session.nonce}`))
      );
    },
  };
}

export type SessionSigner = ReturnType<typeof createSessionSigner>;
