// `fhirbridge doctor`: runs the going-live checks of a registration (src/doctor) and prints one
// line each; the exit code is 1 when any failed.
import type { Command } from 'commander';
import { z } from 'zod';
import { BridgeError } from '../common/errors.ts';
import { formatReport, runDoctor } from '../doctor/index.ts';
import type { Runtime } from '../runtime.ts';

export function registerDoctorCommand(
  program: Command,
  withRuntime: <T>(fn: (rt: Runtime) => Promise<T>) => Promise<T>,
): void {
  program
    .command('doctor')
    .description(
      'check a registration before a patient tries it: JWKS, redirect URI, discovery, clock, keys, files, budget',
    )
    .option('-r, --registration <name>', 'registration (default: the default registration)')
    .option('--processes <n>', 'fhirbridge processes that will share this configuration', '1')
    .action((opts: { registration?: string; processes: string }) =>
      withRuntime(async (rt) => {
        const processes = z.coerce.number().int().min(1).safeParse(opts.processes);
        if (!processes.success) {
          throw new BridgeError(
            'invalid_request',
            '--processes must be a whole number of at least 1',
          );
        }
        const report = await runDoctor(
          {
            config: rt.config,
            keys: rt.keys,
            clock: rt.clock,
            fetch: globalThis.fetch,
            practices: await rt.practices.list(),
          },
          {
            ...(opts.registration ? { registration: opts.registration } : {}),
            processes: processes.data,
          },
        );
        for (const line of formatReport(report)) console.log(line);
        process.exitCode = report.exitCode;
      }),
    );
}
