// The token set as kept in the vault: sealed JSON in the connection row, opened only to make a
// call. The sealing context binds it to its connection, so a copied column does not open elsewhere.
import type { Sealer } from '../common/seal.ts';

export interface StoredTokens {
  accessToken: string;
  refreshToken?: string | undefined;
  idToken?: string | undefined;
  expiresAt: number;
}

const context = (connectionId: string) => `tokens:${connectionId}`;

export function sealTokens(sealer: Sealer, connectionId: string, tokens: StoredTokens): string {
  return sealer.seal(JSON.stringify(tokens), context(connectionId));
}

export function openTokens(sealer: Sealer, connectionId: string, sealed: string): StoredTokens {
  return JSON.parse(sealer.open(sealed, context(connectionId))) as StoredTokens;
}
