// What the vault needs from the rest of fhirbridge, passed in once by main.

import type { Budget } from '../budget/port.ts';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import type { Sealer } from '../common/seal.ts';
import type { Registration } from '../config/schema.ts';
import type { EventLog } from '../events/log.ts';
import type { KeyService } from '../keys/index.ts';
import type { PracticeRegistry } from '../practices/registry.ts';
import type { Discovery, IdTokenValidator } from '../smart/index.ts';
import type { Store } from '../store/port.ts';

export interface VaultDeps {
  store: Store;
  sealer: Sealer;
  clock: Clock;
  logger: Logger;
  keys: KeyService;
  discovery: Discovery;
  idTokens: IdTokenValidator;
  practices: PracticeRegistry;
  registrations: Record<string, Registration>;
  events: EventLog;
  /** Every authorize redirect and token call is spent from the practice's budget. */
  budget: Budget;
  /** Our public URL: the default redirect URI is `${publicUrl}/callback`. */
  publicUrl: string;
  fetch?: typeof fetch;
  /** Refresh this long before the access token lapses. Default 5 minutes. */
  refreshLeewayMs?: number;
  /** How long a refresh lease holds other processes off. Longer than a token call's timeout. */
  refreshLeaseMs?: number;
  /** How a process waits for another's lease; injectable so tests do not sleep. */
  sleep?: (ms: number) => Promise<void>;
}

export const AUTH_SESSION_TTL_MS = 10 * 60_000;
