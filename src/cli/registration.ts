// `fhirbridge registration new|show`: a registration and its keyring, and exactly what to enter
// in healow's developer portal for it. `new` writes the registration into the config file once
// healow has issued its client id.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { z } from 'zod';
import { BridgeError } from '../common/errors.ts';
import { type ConfigInput, DEFAULT_SCOPES, loadConfig } from '../config/index.ts';
import { formatPortalFields, portalFields } from '../doctor/portal.ts';
import type { Runtime } from '../runtime.ts';
import type { ConfigFlags } from './setup.ts';

/** healow's one authorization server, the allow-list a production registration starts with. */
export const HEALOW_AUTHORIZATION_SERVER = 'https://oauthserver.eclinicalworks.com';

const DEFAULT_TEXT = {
  appName: 'the name patients know your app by',
  description: 'one sentence on what your app does with their records',
};

const newOptions = z.object({
  environment: z.enum(['sandbox', 'production'], { error: 'must be sandbox or production' }),
  clientType: z
    .enum(['public', 'confidential-symmetric', 'confidential-asymmetric'])
    .default('confidential-asymmetric'),
  clientId: z.string().trim().min(1).optional(),
  appName: z.string().min(1).default(DEFAULT_TEXT.appName),
  description: z.string().min(1).default(DEFAULT_TEXT.description),
});

function parseOptions(value: unknown) {
  const parsed = newOptions.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `--${dashed(String(i.path[0]))} ${i.message}`);
  throw new BridgeError('invalid_request', problems.join('; '));
}

const dashed = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

async function askClientId(): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = (await rl.question('client id healow issued: ')).trim();
    if (!answer) throw new BridgeError('invalid_request', 'no client id given');
    return answer;
  } finally {
    rl.close();
  }
}

export function registerRegistrationCommands(
  program: Command,
  withRuntime: <T>(fn: (rt: Runtime) => Promise<T>) => Promise<T>,
): void {
  const registration = program
    .command('registration')
    .description(
      "an app registration at healow: what to enter in healow's portal, and its keyring",
    );

  registration
    .command('new')
    .argument('<name>', 'registration name (e.g. sandbox, production)')
    .requiredOption('--environment <environment>', 'sandbox or production')
    .option(
      '--client-type <type>',
      'confidential-asymmetric (default), confidential-symmetric or public',
    )
    .option('--client-id <id>', 'the client id healow issued (asked for when absent)')
    .option('--app-name <name>', 'app name, as the consent screen shows it')
    .option('--description <text>', 'app description, as the consent screen shows it')
    .description(
      "print what to enter in healow's portal, take the client id it issues, write the registration into the config file and create its keyring",
    )
    .action(async (name: string, raw: Record<string, unknown>) => {
      const opts = parseOptions(raw);
      const flags = program.opts<ConfigFlags>();
      const file = flags.config ?? process.env.FHIRBRIDGE_CONFIG;
      if (!file) {
        throw new BridgeError(
          'invalid_request',
          'registrations live in the config file: pass --config FILE (or set FHIRBRIDGE_CONFIG); it is created if missing',
        );
      }
      const existing = existsSync(file)
        ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)
        : {};
      const registrations = (existing.registrations ?? {}) as Record<string, unknown>;
      if (name in registrations) {
        throw new BridgeError(
          'conflict',
          `registration "${name}" is already in ${file}; see "registration show ${name}"`,
        );
      }
      const entry = {
        environment: opts.environment,
        clientType: opts.clientType,
        keyring: name,
        scopes: DEFAULT_SCOPES,
        ...(opts.environment === 'production'
          ? { authorizationServers: [HEALOW_AUTHORIZATION_SERVER] }
          : {}),
      };
      // Checked with a stand-in client id before anything is printed: a production registration
      // beside an http publicUrl should fail now, not after the portal form is filled in.
      const check = (clientId: string) =>
        loadConfig({
          file,
          overrides: { registrations: { [name]: { ...entry, clientId } } } as ConfigInput,
        });
      const config = check(opts.clientId ?? 'to-be-issued');
      console.log(`Enter in healow's developer portal (${opts.environment} app):\n`);
      for (const line of formatPortalFields(portalFields(config, name, entry, opts))) {
        console.log(`  ${line}`);
      }
      console.log('');
      const clientId = opts.clientId ?? (await askClientId());
      check(clientId);
      const next: Record<string, unknown> = {
        ...existing,
        registrations: { ...registrations, [name]: { ...entry, clientId } },
      };
      if (Object.keys(registrations).length === 0 && existing.defaultRegistration === undefined) {
        next.defaultRegistration = name;
      }
      writeFileSync(file, `${JSON.stringify(next, null, 2)}\n`, { mode: 0o600 });
      console.log(`registration "${name}" written to ${file} (client id ${clientId})`);
      if (opts.clientType === 'confidential-asymmetric') {
        await withRuntime(async (rt) => {
          const key = await rt.keys.ensure(name);
          console.log(`keyring "${name}": signing key ${key.kid}`);
        });
      }
      console.log(`next: start fhirbridge, then run "fhirbridge doctor --registration ${name}"`);
    });

  registration
    .command('show')
    .argument('[name]', 'registration name (default: the default registration)')
    .option('--app-name <name>', 'app name, as the consent screen shows it')
    .option('--description <text>', 'app description, as the consent screen shows it')
    .description("print what to enter in healow's portal for a registration, and its client id")
    .action((name: string | undefined, raw: { appName?: string; description?: string }) =>
      withRuntime(async (rt) => {
        const chosen = name ?? rt.config.defaultRegistration;
        const r = rt.config.registrations[chosen];
        if (!r) {
          throw new BridgeError(
            'invalid_request',
            `no registration "${chosen}" (configured: ${Object.keys(rt.config.registrations).join(', ') || 'none'})`,
          );
        }
        console.log(`registration "${chosen}": client id ${r.clientId}\n`);
        console.log(`Enter in healow's developer portal (${r.environment} app):\n`);
        const text = { ...DEFAULT_TEXT, ...raw };
        for (const line of formatPortalFields(portalFields(rt.config, chosen, r, text))) {
          console.log(`  ${line}`);
        }
        if (r.clientType === 'confidential-asymmetric') {
          const keys = await rt.keys.list(r.keyring ?? chosen);
          console.log(
            `\nkeyring "${r.keyring ?? chosen}": ${keys.map((k) => `${k.kid} (${k.status})`).join(', ')}`,
          );
        }
      }),
    );
}
