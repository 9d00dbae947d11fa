import { createHash } from 'node:crypto';

/** SHA-256 hex: how state values, browser cookies and API keys are looked up without storing them. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}
