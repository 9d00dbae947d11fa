// Authorize requests between the authorize call, the login page and the consent page. The
// browser carries only a random id in a hidden form field; everything else stays here.

import type { SimClock } from '../context.ts';
import { opaqueToken } from './grants.ts';

/** How long a patient may take between the authorize call and the consent decision. */
export const PENDING_LIFETIME_MS = 10 * 60_000;

export interface PendingAuthorization {
  id: string;
  clientId: string;
  redirectUri: string;
  practiceCode: string;
  scopes: string[];
  state: string;
  codeChallenge: string;
  nonce?: string;
  expiresAt: number;
  /** Set by a successful login. */
  username?: string;
  patientId?: string;
}

export interface PendingStore {
  create(request: Omit<PendingAuthorization, 'id' | 'expiresAt'>): PendingAuthorization;
  /** The live pending request, or undefined when unknown or expired. */
  get(id: string): PendingAuthorization | undefined;
  /** Ends it: one consent decision per authorize request. */
  delete(id: string): void;
}

export function createPendingStore(clock: SimClock): PendingStore {
  const pending = new Map<string, PendingAuthorization>();
  return {
    create(request) {
      const now = clock.now();
      for (const [id, p] of pending) if (p.expiresAt <= now) pending.delete(id);
      const record: PendingAuthorization = {
        ...request,
        id: opaqueToken(),
        expiresAt: now + PENDING_LIFETIME_MS,
      };
      pending.set(record.id, record);
      return record;
    },
    get(id) {
      const record = pending.get(id);
      if (!record) return undefined;
      if (record.expiresAt <= clock.now()) {
        pending.delete(id);
        return undefined;
      }
      return record;
    },
    delete: (id) => {
      pending.delete(id);
    },
  };
}
