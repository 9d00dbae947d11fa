// The configured webhook endpoints as the dispatcher uses them: a stable id per URL, the HMAC
// key, and which event types each wants.
import { sha256Hex } from '../common/hash.ts';
import type { Config } from '../config/schema.ts';
import { secretKey } from './signature.ts';

export interface WebhookEndpoint {
  /** `ep_` + a hash of the URL: stable across restarts, new when the URL changes. */
  id: string;
  url: string;
  key: Buffer;
  wants(eventType: string): boolean;
}

export function endpointId(url: string): string {
  return `ep_${sha256Hex(url).slice(0, 16)}`;
}

/** `connection.*` matches every `connection.…` type; no list matches everything. */
export function eventFilter(events: readonly string[] | undefined): (type: string) => boolean {
  if (!events) return () => true;
  const exact = new Set(events.filter((e) => !e.endsWith('.*')));
  const families = events.filter((e) => e.endsWith('.*')).map((e) => e.slice(0, -1));
  return (type) => exact.has(type) || families.some((f) => type.startsWith(f));
}

export function configuredEndpoints(webhooks: Config['webhooks']): WebhookEndpoint[] {
  return webhooks.map((w) => ({
    id: endpointId(w.url),
    url: w.url,
    key: secretKey(w.secret),
    wants: eventFilter(w.events),
  }));
}
