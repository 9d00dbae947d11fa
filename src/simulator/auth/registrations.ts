// App registrations, as a person enters them in the healow developer portal: loaded from the
// options, changed by the admin API. The JWKS URL of an asymmetric client is its allow-list entry.

import { type Registration, type RegistrationInput, registrationSchema } from '../options.ts';
import { isSupportedScope } from './scopes.ts';

export interface RegistrationStore {
  get(clientId: string): Registration | undefined;
  list(): Registration[];
  /** Validates and adds or replaces a registration (by client_id); throws on a bad one. */
  put(input: RegistrationInput): Registration;
  delete(clientId: string): boolean;
}

export function createRegistrationStore(initial: readonly RegistrationInput[]): RegistrationStore {
  const byClientId = new Map<string, Registration>();
  const store: RegistrationStore = {
    get: (clientId) => byClientId.get(clientId),
    list: () => [...byClientId.values()],
    put(input) {
      const registration = registrationSchema.parse(input);
      const unknown = registration.scopes?.filter((s) => !isSupportedScope(s)) ?? [];
      if (unknown.length > 0) throw new Error(`unsupported scopes: ${unknown.join(' ')}`);
      byClientId.set(registration.clientId, registration);
      return registration;
    },
    delete: (clientId) => byClientId.delete(clientId),
  };
  for (const input of initial) store.put(input);
  return store;
}

/** A registration as the admin API shows it: the client secret never leaves the store. */
export function publicView(registration: Registration): Record<string, unknown> {
  if (registration.type === 'confidential-symmetric') {
    const { clientSecret: _secret, ...rest } = registration;
    return { ...rest, clientSecret: '[set]' };
  }
  return { ...registration };
}
