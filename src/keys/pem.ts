// Private key material in and out: generating RSA keys, reading an operator's PEM file (with
// the checks that keep a weak or exposed key out of a keyring), and PKCS#8 PEM for sealing.
import { createPrivateKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { BridgeError } from '../common/errors.ts';

/** RS384 needs RSA; below 2048 bits is refused (NIST SP 800-131A, RFC 7518 §3.3). */
export const MIN_MODULUS_LENGTH = 2048;

const generateRsa = promisify(generateKeyPair);

export async function generateRsaKey(modulusLength: number): Promise<KeyObject> {
  const { privateKey } = await generateRsa('rsa', { modulusLength, publicExponent: 0x10001 });
  return privateKey;
}

/**
 * Reads a PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`) PEM file. Refuses a
 * file that group or others may read (like ssh does), an encrypted or unparsable PEM, a key that
 * is not RSA, and a modulus under 2048 bits. Error messages name the file, never its content.
 */
export async function readPrivateKeyFile(path: string): Promise<KeyObject> {
  // One handle for the mode check and the read, so the file checked is the file read.
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (cause) {
    throw new BridgeError('invalid_request', `cannot open key file ${path}`, {
      details: { reason: errorCode(cause) },
    });
  }
  let pem: string;
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new BridgeError('invalid_request', `${path} is not a file`);
    if ((info.mode & 0o077) !== 0) {
      const octal = (info.mode & 0o777).toString(8).padStart(3, '0');
      throw new BridgeError(
        'invalid_request',
        `key file ${path} is readable by group or others (mode ${octal}); run: chmod 600 ${path}`,
      );
    }
    pem = await handle.readFile('utf8');
  } finally {
    await handle.close();
  }

  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (cause) {
    // The cause is dropped on purpose: parser errors may quote the input.
    throw new BridgeError(
      'invalid_request',
      `key file ${path} is not an unencrypted PKCS#8 or PKCS#1 private key PEM`,
      { details: { reason: errorCode(cause) } },
    );
  }
  assertRsaSigningKey(key, `key file ${path}`);
  return key;
}

/** RS384 (RFC 7518 §3.3) takes an RSA key of 2048 bits or more; RSA-PSS-only keys do not fit. */
export function assertRsaSigningKey(key: KeyObject, source: string): void {
  if (key.type !== 'private' || key.asymmetricKeyType !== 'rsa') {
    throw new BridgeError(
      'invalid_request',
      `${source} holds a ${key.asymmetricKeyType ?? 'non-asymmetric'} key; RS384 needs an RSA key`,
    );
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_MODULUS_LENGTH) {
    throw new BridgeError(
      'invalid_request',
      `${source} holds a ${bits}-bit RSA key; at least ${MIN_MODULUS_LENGTH} bits are required`,
    );
  }
}

/** The one form a private key is sealed in. */
export function toPkcs8Pem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function errorCode(cause: unknown): string {
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'unknown';
}
