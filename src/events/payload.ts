// What a webhook says: `{ type, timestamp, data }` (the Standard Webhooks payload shape), data
// being the event's own facts plus its connection. Secrets are dropped here too, whatever an
// emitter put into the event, so a token can never leave in a webhook.
import type { EventRecord } from '../store/port.ts';

export interface WebhookPayload {
  type: string;
  /** When the event happened (ISO 8601). */
  timestamp: string;
  data: Record<string, unknown>;
}

/** Names that carry secrets, anywhere in the data. */
const SECRET_NAME =
  /token|secret|password|verifier|assertion|authorization|cookie|private|^code$|^key$/i;

/** A deep copy of `value` without any member named like a secret. */
export function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([name]) => !SECRET_NAME.test(name))
        .map(([name, v]) => [name, withoutSecrets(v)]),
    );
  }
  return value;
}

export function webhookPayload(event: EventRecord): WebhookPayload {
  return {
    type: event.type,
    timestamp: new Date(event.createdAt).toISOString(),
    data: {
      ...(withoutSecrets(event.data) as Record<string, unknown>),
      connectionId: event.connectionId,
    },
  };
}
