// The simulator's composition: options → clock → practices → patient data → HTTP server with
// the authorization server, discovery, FHIR routes, directory and (when enabled) admin API.
// `createSimulator` is what `fhirbridge simulate`, `npm start` and the tests call.

import type { GrantStore } from './auth/grants.ts';
import type { SigningKeys } from './auth/keys.ts';
import type { RegistrationStore } from './auth/registrations.ts';
import { createSimClock } from './clock.ts';
import type { SimClock, SimPractice, SimulatorContext } from './context.ts';
import { createPatientData, type PatientData } from './data/index.ts';
import { registerDirectoryRoutes } from './directory.ts';
import type { FaultInjector } from './faults.ts';
import { registerDataAdminRoutes } from './fhir/admin.ts';
import { registerFhirRoutes } from './fhir/routes.ts';
import { resolveSimulatorOptions, type SimulatorOptionsInput } from './options.ts';
import { createSimulatorServer } from './server.ts';

export type { SimulatorOptions, SimulatorOptionsInput } from './options.ts';

export interface Simulator {
  /** The origin, e.g. `http://127.0.0.1:9090`. */
  url: string;
  /** `${url}/fhir/r4/{code}` */
  fhirBase(practiceCode: string): string;
  context: SimulatorContext<PatientData>;
  /** In-process levers for the host process (npm start); tests use the admin API over HTTP. */
  registrations: RegistrationStore;
  grants: GrantStore;
  keys: SigningKeys;
  faults: FaultInjector;
  close(): Promise<void>;
}

export interface SimulatorDeps {
  /** Base time source of the simulator clock (tests pass a hand-driven one). */
  clock?: SimClock;
  /** Used to fetch client JWKS; the global fetch by default. */
  fetch?: typeof fetch;
}

export async function createSimulator(
  input: SimulatorOptionsInput = {},
  deps: SimulatorDeps = {},
): Promise<Simulator> {
  const options = resolveSimulatorOptions(input);
  const clock = deps.clock ?? createSimClock();
  const practices = new Map<string, SimPractice>(options.practices.map((p) => [p.code, p]));
  const data = createPatientData({
    practices: [...practices.values()],
    seed: options.seed,
    clock,
    ...(options.resourcesPerPatient === undefined
      ? {}
      : { resourcesPerPatient: options.resourcesPerPatient }),
  });
  const server = await createSimulatorServer({
    options,
    clock,
    practices,
    data,
    routes: (app, ctx) => {
      registerFhirRoutes(app, ctx);
      registerDirectoryRoutes(app, ctx);
    },
    adminRoutes: (admin, ctx) => registerDataAdminRoutes(admin, ctx),
    ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }),
  });
  const url = await server.listen();
  return {
    url,
    fhirBase: (code) => server.context.urls.fhirBase(code),
    context: server.context,
    registrations: server.registrations,
    grants: server.grants,
    keys: server.keys,
    faults: server.faults,
    close: () => server.close(),
  };
}
