// What the authorization server's routes share, built once by createAuthServer (server.ts).

import type { SimulatorContext } from '../context.ts';
import type { RateLimiter } from '../ratelimit.ts';
import type { AssertionVerifier } from './client-assertion.ts';
import type { GrantStore } from './grants.ts';
import type { SigningKeys } from './keys.ts';
import type { PendingStore } from './pending.ts';
import type { RegistrationStore } from './registrations.ts';

export interface AuthDeps {
  ctx: SimulatorContext;
  registrations: RegistrationStore;
  grants: GrantStore;
  pending: PendingStore;
  keys: SigningKeys;
  limiter: RateLimiter;
  assertions: AssertionVerifier;
}

/** A form or query parameter: one string, or undefined when absent or repeated (RFC 6749 §3.1). */
export function param(source: unknown, name: string): string | undefined {
  if (typeof source !== 'object' || source === null) return undefined;
  const value = (source as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}

/** True when a parameter appears more than once, which RFC 6749 §3.1 forbids. */
export function repeated(source: unknown, names: readonly string[]): string | undefined {
  if (typeof source !== 'object' || source === null) return undefined;
  return names.find((n) => Array.isArray((source as Record<string, unknown>)[n]));
}

/** The practice whose FHIR base equals `aud` exactly (healow: no trailing slash). */
export function practiceForAud(ctx: SimulatorContext, aud: string | undefined): string | undefined {
  if (aud === undefined) return undefined;
  for (const code of ctx.practices.keys()) if (ctx.urls.fhirBase(code) === aud) return code;
  return undefined;
}
