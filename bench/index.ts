// The benchmark runner (`npm run bench [-- --only <name>] [-- --preset quick]`): runs every
// benchmark module that exists, one after the other, prints each result's inputs and figures as a
// table with the machine they ran on, and writes them all to bench/report.md and report.json,
// each target beside its figure, marked met or not. Every ratio is against a baseline of the same
// run, with the absolute numbers beside it; nothing here fails on time.
import { existsSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { reportJson, reportMarkdown } from './report.ts';
import type { Bench, BenchResult, Preset } from './types.ts';

/** Each benchmark: its module beside this file and the function it exports. */
const BENCHMARKS = [
  { name: 'budget', file: './budget.ts', entry: 'benchBudget' },
  { name: 'proxy', file: './proxy.ts', entry: 'benchProxy' },
  { name: 'directory', file: './directory.ts', entry: 'benchDirectory' },
  { name: 'sync', file: './sync.ts', entry: 'benchSync' },
  { name: 'store', file: './store.ts', entry: 'benchStore' },
  { name: 'scale-out', file: './scale-out.ts', entry: 'benchScaleOut' },
] as const;

function machine(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const [one, five] = loadavg();
  return [
    `machine: ${availableParallelism()} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB`,
    `node ${process.version} on ${process.platform}/${process.arch}`,
    `load average ${one?.toFixed(2)} (1 min), ${five?.toFixed(2)} (5 min) at start`,
  ].join('; ');
}

/** Wraps `text` at `width` columns, continuation lines indented by `indent`. */
function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.join(`\n${indent}`);
}

/** Values longer than this (notes, not numbers) are printed as they are, not aligned. */
const ALIGNED = 24;

/** One result as a two-column table: figure names left, numbers right-aligned. */
export function formatResult(result: BenchResult): string {
  const entries = Object.entries(result.figures).map(
    ([key, value]) =>
      [key, typeof value === 'number' ? value.toLocaleString('en-US') : value] as const,
  );
  const keyWidth = Math.max('figure'.length, ...entries.map(([key]) => key.length));
  const valueWidth = Math.max(
    'value'.length,
    ...entries.map(([, value]) => value.length).filter((length) => length <= ALIGNED),
  );
  const row = (key: string, value: string) =>
    `  ${key.padEnd(keyWidth)}  ${value.length <= ALIGNED ? value.padStart(valueWidth) : value}`;
  return [
    `${result.name}`,
    `  inputs: ${wrap(result.inputs, 96, '          ')}`,
    row('figure', 'value'),
    row('-'.repeat(keyWidth), '-'.repeat(valueWidth)),
    ...entries.map(([key, value]) => row(key, value)),
    ...(result.targets ?? []).map(
      (t) => `  target ${t.figure} ${t.target}: ${t.met ? 'met' : 'NOT met'}`,
    ),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { only: { type: 'string' }, preset: { type: 'string', default: 'full' } },
  });
  const only = values.only;
  if (values.preset !== 'quick' && values.preset !== 'full') {
    console.error(`--preset: "${values.preset}" is not quick or full`);
    process.exitCode = 2;
    return;
  }
  const preset: Preset = values.preset;
  const results: Array<{ bench: string; seconds: number; results: BenchResult[]; error?: string }> =
    [];
  const known = BENCHMARKS.map((b) => b.name);
  if (only !== undefined && !known.includes(only as (typeof known)[number])) {
    console.error(`--only: unknown benchmark "${only}" (one of: ${known.join(', ')})`);
    process.exitCode = 2;
    return;
  }
  const startedAt = new Date();
  console.log(machine());
  for (const bench of BENCHMARKS) {
    if (only !== undefined && bench.name !== only) continue;
    const url = new URL(bench.file, import.meta.url);
    console.log(`\n== ${bench.name} (bench/${bench.file.slice(2)})`);
    if (!existsSync(url)) {
      console.log(`   skipped: bench/${bench.file.slice(2)} is not there yet`);
      continue;
    }
    const started = performance.now();
    try {
      const module = (await import(url.href)) as Record<string, unknown>;
      const run = module[bench.entry];
      if (typeof run !== 'function') {
        console.log(`   skipped: bench/${bench.file.slice(2)} exports no ${bench.entry}()`);
        continue;
      }
      const out = await (run as Bench)({ preset });
      for (const result of out) console.log(`\n${formatResult(result)}`);
      const seconds = (performance.now() - started) / 1000;
      results.push({ bench: bench.name, seconds, results: out });
      console.log(`\n   (${bench.name}: ${seconds.toFixed(1)} s)`);
    } catch (error) {
      // One broken benchmark does not hide the others' figures.
      const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
      console.log(`   failed: ${message}`);
      results.push({ bench: bench.name, seconds: 0, results: [], error: message.split('\n')[0] });
      process.exitCode = 1;
    }
  }
  const report = { machine: machine(), preset, started: startedAt.toISOString(), only, results };
  writeFileSync(new URL('./report.json', import.meta.url), reportJson(report));
  writeFileSync(new URL('./report.md', import.meta.url), reportMarkdown(report));
  console.log('\nwrote bench/report.md and bench/report.json');
}

await main();
