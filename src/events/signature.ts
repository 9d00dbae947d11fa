// Standard Webhooks signatures (standardwebhooks.com, "Signature scheme"): HMAC-SHA256 over
// `${webhook-id}.${webhook-timestamp}.${body}` keyed with the base64-decoded `whsec_` secret,
// sent as `webhook-signature: v1,<base64>`; the timestamp is whole seconds.
import { createHmac } from 'node:crypto';
import { BridgeError } from '../common/errors.ts';

export const SECRET_PREFIX = 'whsec_';

/** The HMAC key of a `whsec_…` secret. */
export function secretKey(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) {
    throw new BridgeError('invalid_config', 'a webhook secret starts with "whsec_"');
  }
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
}

export interface SignedMessage {
  /** The message id, the same on every attempt (receivers de-duplicate on it). */
  id: string;
  /** Seconds since the epoch, of this attempt. */
  timestamp: number;
  body: string;
}

/** `v1,<base64 HMAC>` for one message. */
export function sign(key: Buffer, { id, timestamp, body }: SignedMessage): string {
  const mac = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`, 'utf8').digest();
  return `v1,${mac.toString('base64')}`;
}

/** The three Standard Webhooks headers of one attempt. */
export function webhookHeaders(key: Buffer, message: SignedMessage): Record<string, string> {
  return {
    'webhook-id': message.id,
    'webhook-timestamp': String(message.timestamp),
    'webhook-signature': sign(key, message),
  };
}
