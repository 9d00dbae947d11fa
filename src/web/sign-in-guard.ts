// Bounds on the patient pages' sign-ins, which need no key: requests per client address and per
// browser cookie (each route counted apart), and caps on the rows unanswered sign-ins leave
// (pending connections, auth sessions), expired as they are checked. Refusals are
// BridgeError('too_many_requests') with a Retry-After.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../common/clock.ts';
import { BridgeError } from '../common/errors.ts';
import { sha256Hex } from '../common/hash.ts';
import type { Config } from '../config/schema.ts';
import { browserSecret } from '../http/browser.ts';
import type { Store } from '../store/port.ts';

/** The userRef prefix of connections made from the patient pages (see routes.ts). */
export const WEB_USER_PREFIX = 'web:';

export type SignInRoute = 'connect' | 'launch';

interface Window {
  startedAt: number;
  count: number;
}

/**
 * Fixed windows per key, started by the key's first hit. At most `maxKeys` are kept: past that,
 * ended windows go first, then the oldest, so memory stays bounded under a flood of addresses.
 */
export function createWindowCounter({
  clock,
  limit,
  windowMs,
  maxKeys = 10_000,
}: {
  clock: Clock;
  limit: number;
  windowMs: number;
  maxKeys?: number;
}) {
  const windows = new Map<string, Window>();

  function prune(now: number) {
    for (const [key, w] of windows) if (now - w.startedAt >= windowMs) windows.delete(key);
    for (const key of windows.keys()) {
      if (windows.size < maxKeys) break;
      windows.delete(key);
    }
  }

  return {
    /** Counts a hit; past the limit, the ms until the key's window ends (else undefined). */
    hit(key: string): number | undefined {
      const now = clock.now();
      let w = windows.get(key);
      if (!w || now - w.startedAt >= windowMs) {
        if (!w && windows.size >= maxKeys) prune(now);
        w = { startedAt: now, count: 0 };
        windows.delete(key);
        windows.set(key, w);
      }
      w.count += 1;
      return w.count > limit ? w.startedAt + windowMs - now : undefined;
    },
  };
}

export type SignInGuard = ReturnType<typeof createSignInGuard>;

export function createSignInGuard({
  clock,
  store,
  limits,
}: {
  clock: Clock;
  store: Pick<Store, 'authSessions'>;
  limits: Config['signIn'];
}) {
  const counters = (route: SignInRoute) => ({
    route,
    address: createWindowCounter({ clock, ...limits.perAddress }),
    browser: createWindowCounter({ clock, ...limits.perBrowser }),
  });
  const byRoute = { connect: counters('connect'), launch: counters('launch') };

  function refuse(reply: FastifyReply, waitMs: number, message: string): never {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    reply.header('retry-after', String(seconds));
    throw new BridgeError('too_many_requests', message, { details: { retryAfter: seconds } });
  }

  return {
    /** Counts the request against its address and its browser: 429 past either limit. */
    admitRequest(route: SignInRoute, request: FastifyRequest, reply: FastifyReply): void {
      const counter = byRoute[route];
      const tooMany =
        'Too many sign-in attempts came from this device or network. Please wait a minute, then try again.';
      const byAddress = counter.address.hit(request.ip);
      if (byAddress !== undefined) refuse(reply, byAddress, tooMany);
      const secret = browserSecret(request);
      // Keyed by a hash: the cookie is the browser's binding secret and stays out of memory dumps.
      const byBrowser = secret === undefined ? undefined : counter.browser.hit(sha256Hex(secret));
      if (byBrowser !== undefined) refuse(reply, byBrowser, tooMany);
    },

    /**
     * Before a patient-page sign-in creates rows: forget the abandoned ones, then refuse while
     * the caps are reached. Apps' sign-ins (API keys) are not counted, so a flood of anonymous
     * ones cannot stop them.
     */
    async admitNewSignIn(reply: FastifyReply): Promise<void> {
      const now = clock.now();
      await store.authSessions.purgeAbandoned({
        now,
        pendingBefore: now - limits.pendingConnectionTtlMs,
        userRefPrefix: WEB_USER_PREFIX,
      });
      const busy =
        'Many people are signing in right now. Please wait a few minutes, then try again.';
      if ((await store.authSessions.countLive(now, WEB_USER_PREFIX)) >= limits.maxAuthSessions)
        refuse(reply, 60_000, busy);
      if (
        (await store.authSessions.countPendingConnections(WEB_USER_PREFIX)) >=
        limits.maxPendingConnections
      )
        refuse(reply, 60_000, busy);
    },
  };
}
