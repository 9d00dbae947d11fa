// A registration's client type → the client authentication value used by every token call.
import { BridgeError } from '../common/errors.ts';
import type { Registration } from '../config/schema.ts';
import type { KeyService } from '../keys/index.ts';
import {
  type ClientAuthentication,
  clientSecretBasic,
  privateKeyJwt,
  publicClient,
} from '../smart/index.ts';

export async function clientAuthFor(
  name: string,
  registration: Registration,
  keys: KeyService,
): Promise<ClientAuthentication> {
  const { clientId } = registration;
  switch (registration.clientType) {
    case 'confidential-asymmetric':
      return privateKeyJwt({ clientId, signer: await keys.signer(registration.keyring ?? name) });
    case 'confidential-symmetric':
      if (!registration.clientSecret) {
        throw new BridgeError('invalid_config', `registration "${name}" has no client secret`);
      }
      return clientSecretBasic({ clientId, clientSecret: registration.clientSecret });
    case 'public':
      return publicClient({ clientId });
  }
}

/**
 * Refuses a discovery answer whose authorize or token endpoint is not on one of the
 * registration's authorization servers: the client's credentials and the patient's code go there.
 */
export function assertAuthorizationServer(
  name: string,
  registration: Registration,
  endpoints: { authorization_endpoint: string; token_endpoint: string },
): void {
  const allowed = registration.authorizationServers;
  if (allowed.length === 0) return;
  for (const endpoint of [endpoints.authorization_endpoint, endpoints.token_endpoint]) {
    if (!allowed.includes(new URL(endpoint).origin)) {
      throw new BridgeError(
        'discovery_failed',
        `the practice names ${new URL(endpoint).origin} as its authorization server, which registration "${name}" does not allow (authorizationServers)`,
      );
    }
  }
}
