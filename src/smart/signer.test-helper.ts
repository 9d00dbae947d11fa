// Test helper (not exported): an RS384 key pair and a JwtSigner over it, as the keys part
// would build one (the private key and its kid).
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { JwtSigner } from './client-auth.ts';

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export async function generateTestKey(kid: string, alg = 'RS384'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicKey, publicJwk };
}

export function testSigner(key: TestKey): JwtSigner {
  return { kid: key.kid, key: key.privateKey };
}
