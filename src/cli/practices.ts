// `fhirbridge practices …`: import the endpoint directory, search, add, list, health checks,
// disable/enable. Output is for people: tables and short summaries.
import { type Command, InvalidArgumentError } from 'commander';
import type { ImportSummary, PracticeService } from '../practices/service.ts';
import type { PracticeRecord } from '../store/port.ts';

export interface PracticesCliContext {
  practices: PracticeService;
  close(): Promise<void>;
}

type Print = (line: string) => void;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be 0 or more');
  return n;
}

const STATUSES = ['active', 'vanished', 'disabled'] as const;
const SOURCES = ['directory', 'operator', 'config'] as const;

function oneOf<T extends string>(allowed: readonly T[]) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`must be one of ${allowed.join(', ')}`);
    }
    return value as T;
  };
}

/** Fixed-width columns; the last column is never padded or cut. */
export function formatTable(header: string[], rows: string[][], maxWidth = 40): string[] {
  const cut = (s: string) => (s.length > maxWidth ? `${s.slice(0, maxWidth - 1)}…` : s);
  const cells = [header, ...rows].map((row) =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cut(cell))),
  );
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

const place = (p: PracticeRecord) => [p.city, p.state].filter(Boolean).join(', ') || '-';

function health(p: PracticeRecord): string {
  if (p.health.discoveryOk === null) return 'unchecked';
  const at = new Date(p.health.lastCheckedAt ?? 0).toISOString();
  return p.health.discoveryOk ? `ok (${at})` : `FAILING (${at}): ${p.health.lastError ?? ''}`;
}

function printPractice(print: Print, p: PracticeRecord): void {
  print(`${p.id}  ${p.name}`);
  print(`  base:          ${p.base}`);
  print(`  vendor:        ${p.vendor}`);
  print(`  registration:  ${p.registration ?? '(default for its environment)'}`);
  print(`  source:        ${p.source}`);
  print(`  status:        ${p.status}${p.statusReason ? ` (${p.statusReason})` : ''}`);
  print(`  place:         ${place(p)}`);
  print(`  discovery:     ${health(p)}`);
}

function printSummary(print: Print, s: ImportSummary): void {
  print(
    `imported ${s.source}: ${s.practices} practices from ${s.entries} entries in ${s.durationMs} ms`,
  );
  print(
    `  added ${s.added}, updated ${s.updated}, unchanged ${s.unchanged}, vanished ${s.vanished}`,
  );
  if (s.skipped.count > 0) {
    print(`  skipped ${s.skipped.count}:`);
    for (const r of s.skipped.reasons) {
      print(`    ${r.count} × ${r.reason} (e.g. ${r.examples.join(', ')})`);
    }
  }
}

export function registerPracticesCommands(
  program: Command,
  open: () => Promise<PracticesCliContext>,
  print: Print = (line) => console.log(line),
): void {
  const withService = async (fn: (practices: PracticeService) => Promise<void>) => {
    const context = await open();
    try {
      await fn(context.practices);
    } finally {
      await context.close();
    }
  };

  const practices = program
    .command('practices')
    .description('the practices fhirbridge may connect: endpoint directory, search, health');

  practices
    .command('import')
    .argument('<file-or-url>', "healow's activated-endpoints Bundle: a file, or an http(s) URL")
    .description('import the endpoint directory (re-import updates; missing ones become vanished)')
    .action((source: string) =>
      withService(async (service) => {
        const summary = await service.importDirectory(
          /^[a-z][a-z0-9+.-]*:\/\//i.test(source) ? { url: source } : { path: source },
        );
        printSummary(print, summary);
      }),
    );

  practices
    .command('search')
    .argument('<query>', 'part of a name or city; typos are forgiven')
    .option('--limit <n>', 'how many', positiveInt, 20)
    .description('find active practices by name or city')
    .action((query: string, opts: { limit: number }) =>
      withService(async (service) => {
        const matches = await service.searchPractices(query, opts.limit);
        if (matches.length === 0) {
          print(`no practice matches "${query}"`);
          return;
        }
        const rows = matches.map(({ practice: p, match }) => [
          p.id,
          p.name,
          place(p),
          match,
          p.base,
        ]);
        for (const line of formatTable(['ID', 'NAME', 'PLACE', 'MATCH', 'BASE'], rows)) print(line);
      }),
    );

  practices
    .command('add')
    .description(
      'add a SMART on FHIR R4 base by hand (https; plain http only on loopback when allowed)',
    )
    .requiredOption('--id <id>', 'practice code or any id (1-64 of A-Z a-z 0-9 . _ -)')
    .requiredOption('--name <name>', 'shown to patients and found by search')
    .requiredOption('--base <url>', 'FHIR base URL')
    // Checked by the service, with the API's rule and message, like every other field.
    .option('--vendor <vendor>', 'healow or generic (any SMART EHR)', 'generic')
    .option('--registration <name>', 'app registration (default: the one for its environment)')
    .option('--city <city>')
    .option('--state <state>')
    .option('--check', 'run SMART discovery against it right away')
    .action(
      (opts: {
        id: string;
        name: string;
        base: string;
        vendor: 'healow' | 'generic';
        registration?: string;
        city?: string;
        state?: string;
        check?: boolean;
      }) =>
        withService(async (service) => {
          let added = await service.addPractice({
            id: opts.id,
            name: opts.name,
            base: opts.base,
            vendor: opts.vendor,
            registration: opts.registration ?? null,
            city: opts.city ?? null,
            state: opts.state ?? null,
          });
          if (opts.check) added = await service.checkPractice(added.id);
          print('added:');
          printPractice(print, added);
        }),
    );

  practices
    .command('list')
    .description('every practice, by name')
    .option('--limit <n>', 'how many', positiveInt, 50)
    .option('--offset <n>', 'skip this many', nonNegativeInt, 0)
    .option('--status <status>', `only ${STATUSES.join(' | ')}`, oneOf(STATUSES))
    .option('--source <source>', `only ${SOURCES.join(' | ')}`, oneOf(SOURCES))
    .action(
      (opts: {
        limit: number;
        offset: number;
        status?: (typeof STATUSES)[number];
        source?: (typeof SOURCES)[number];
      }) =>
        withService(async (service) => {
          const page = await service.listPractices({
            limit: opts.limit,
            offset: opts.offset,
            ...(opts.status ? { status: [opts.status] } : {}),
            ...(opts.source ? { source: opts.source } : {}),
          });
          if (page.total === 0) {
            print(
              'no practices yet: run `fhirbridge practices import <file-or-url>` or `practices add`',
            );
            return;
          }
          const rows = page.practices.map((p) => [
            p.id,
            p.name,
            place(p),
            p.source,
            p.status,
            p.health.discoveryOk === null ? '-' : p.health.discoveryOk ? 'ok' : 'failing',
            p.base,
          ]);
          const header = ['ID', 'NAME', 'PLACE', 'SOURCE', 'STATUS', 'HEALTH', 'BASE'];
          for (const line of formatTable(header, rows)) print(line);
          const last = opts.offset + page.practices.length;
          print(`${opts.offset + 1}-${last} of ${page.total}`);
        }),
    );

  practices
    .command('show')
    .argument('<id>')
    .description('one practice with its health')
    .action((id: string) =>
      withService(async (service) => printPractice(print, await service.getPractice(id))),
    );

  practices
    .command('check')
    .argument('<id>')
    .description('run SMART discovery against the practice and record the outcome')
    .action((id: string) =>
      withService(async (service) => {
        const checked = await service.checkPractice(id);
        print(`${checked.id}: discovery ${health(checked)}`);
        // Scripts and monitors read the exit code: a failing practice is a failed check.
        if (checked.health.discoveryOk === false) process.exitCode = 1;
      }),
    );

  practices
    .command('disable')
    .argument('<id>')
    .option('--reason <text>', 'why, for people (e.g. "patient API switched off")')
    .description('stop connecting to and calling this practice')
    .action((id: string, opts: { reason?: string }) =>
      withService(async (service) => {
        const disabled = await service.disablePractice(id, opts.reason);
        print(`${disabled.id}: disabled (${disabled.statusReason ?? ''})`);
      }),
    );

  practices
    .command('enable')
    .argument('<id>')
    .description('allow a disabled practice again')
    .action((id: string) =>
      withService(async (service) => {
        const enabled = await service.enablePractice(id);
        print(`${enabled.id}: ${enabled.status}`);
      }),
    );
}
