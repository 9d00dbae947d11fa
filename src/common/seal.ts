// Encryption at rest for secrets in the store (token sets, private keys): AES-256-GCM with a
// key id in every sealed value, so the master key can rotate while old values still open.
// Format: `v1.<kid>.<iv b64url>.<ciphertext b64url>.<tag b64url>`.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { BridgeError } from './errors.ts';

const TAG_BYTES = 16;

export interface MasterKey {
  /** Short id written into every sealed value. */
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

export interface Sealer {
  /** Encrypts with the active (first) master key; `context` is bound as associated data. */
  seal(plaintext: string, context: string): string;
  open(sealed: string, context: string): string;
  /** True when `sealed` was made with a key other than the active one (re-seal it). */
  isStale(sealed: string): boolean;
  /**
   * A 32-byte key for one purpose (HKDF-SHA256 of the active master key, RFC 5869, with the
   * purpose as `info`): the same in every process that shares the master key.
   */
  deriveKey(purpose: string): Buffer;
}

export function createSealer(keys: readonly MasterKey[]): Sealer {
  const [active] = keys;
  if (!active) throw new BridgeError('invalid_config', 'at least one master key is required');
  const byId = new Map<string, Buffer>();
  for (const { id, key } of keys) {
    if (key.length !== 32) {
      throw new BridgeError('invalid_config', `master key "${id}" must be 32 bytes`);
    }
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
      throw new BridgeError(
        'invalid_config',
        `master key id "${id}" must be 1-32 of [A-Za-z0-9_-]`,
      );
    }
    byId.set(id, key);
  }

  return {
    seal(plaintext, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', active.key, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [
        'v1',
        active.id,
        iv.toString('base64url'),
        ct.toString('base64url'),
        tag.toString('base64url'),
      ].join('.');
    },
    open(sealed, context) {
      const parts = sealed.split('.');
      const [version, kid, iv, ct, tag] = parts;
      if (parts.length !== 5 || version !== 'v1' || !kid || !iv || ct === undefined || !tag) {
        throw new BridgeError('key_error', 'sealed value is malformed');
      }
      const key = byId.get(kid);
      if (!key) throw new BridgeError('key_error', `sealed with unknown master key "${kid}"`);
      try {
        // authTagLength pins the full 16-byte tag: without it GCM accepts a truncated tag.
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), {
          authTagLength: TAG_BYTES,
        });
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([
          decipher.update(Buffer.from(ct, 'base64url')),
          decipher.final(),
        ]).toString('utf8');
      } catch (cause) {
        throw new BridgeError('key_error', 'sealed value failed authentication', { cause });
      }
    },
    isStale(sealed) {
      return sealed.split('.')[1] !== active.id;
    },
    deriveKey(purpose) {
      return Buffer.from(
        hkdfSync('sha256', active.key, Buffer.alloc(0), `fhirbridge:${purpose}`, 32),
      );
    },
  };
}
