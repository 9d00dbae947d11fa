// Signed links to a patient's own record view, handed to an app by the API: the connection id
// and an expiry, with an HMAC-SHA256 under a key derived from the master key (so every API
// process checks what any of them signed). The link is the only credential: short-lived, bound
// to one connection, and useless once changed.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Sealer } from '../common/seal.ts';

/** The purpose label of the link key derived from the master key. */
export const RECORD_LINK_PURPOSE = 'record-link';
export const DEFAULT_LINK_TTL_MS = 15 * 60_000;
export const MAX_LINK_TTL_MS = 60 * 60_000;

export type LinkCheck =
  | { ok: true; connectionId: string; expiresAt: number }
  | { ok: false; reason: 'expired' | 'invalid' };

const TOKEN = /^v1\.(con_[A-Za-z0-9_-]{10,64})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

export function createRecordLinks(key: Buffer) {
  const mac = (connectionId: string, expiresAtS: string) =>
    createHmac('sha256', key).update(`record-link:v1:${connectionId}:${expiresAtS}`).digest();
  return {
    /** `v1.<connection>.<expiry, epoch seconds>.<mac>`: URL-safe as it is. */
    sign(connectionId: string, expiresAt: number): string {
      const seconds = String(Math.floor(expiresAt / 1000));
      return `v1.${connectionId}.${seconds}.${mac(connectionId, seconds).toString('base64url')}`;
    },
    /** Checks the signature before the expiry, so a changed link is never called expired. */
    check(token: string, now: number): LinkCheck {
      const match = TOKEN.exec(token);
      if (!match) return { ok: false, reason: 'invalid' };
      const [, connectionId = '', seconds = '', signature = ''] = match;
      // Compared as text, not as decoded bytes: the last of 43 base64url letters carries two
      // unused bits, so four spellings decode alike and only the canonical one may open.
      const given = Buffer.from(signature);
      const expected = Buffer.from(mac(connectionId, seconds).toString('base64url'));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return { ok: false, reason: 'invalid' };
      }
      const expiresAt = Number(seconds) * 1000;
      if (expiresAt <= now) return { ok: false, reason: 'expired' };
      return { ok: true, connectionId, expiresAt };
    },
  };
}

export type RecordLinks = ReturnType<typeof createRecordLinks>;

/** The record links of this deployment, under a key derived from the master key. */
export function recordLinksOf(sealer: Pick<Sealer, 'deriveKey'>): RecordLinks {
  return createRecordLinks(sealer.deriveKey(RECORD_LINK_PURPOSE));
}
