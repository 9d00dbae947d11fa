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
