// Directory benchmark: importing 17,000 practices (streamed, validated, one transaction) and
// searching them, each as a ratio against a baseline measured in the same process: the import
// against a plain JSON.parse of the same file, the search against a naive linear scan with
// toLowerCase().includes(). Figures only; nothing here asserts on time.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../src/common/clock.ts';
import { readDirectory } from '../src/practices/directory.ts';
import { readDirectorySource } from '../src/practices/directory-source.ts';
import { buildPracticeIndex, normalizeText } from '../src/practices/search.ts';
import { createPracticeService } from '../src/practices/service.ts';
import { directoryBundle, generateDirectory } from '../src/simulator/directory.ts';
import type { PracticeRecord } from '../src/store/port.ts';
import { openSqliteStore } from '../src/store/sqlite/index.ts';
import { percentile, ratio, round } from './stats.ts';
import type { BenchResult } from './types.ts';

const PRACTICES = 17_000;
const SEARCH_ROUNDS = 20;
const MB = 1024 * 1024;

/**
 * The kernel's high-water mark of this process's RSS since the last reset, in bytes; reset by
 * writing 5 to /proc/self/clear_refs (Linux). A timer cannot sample during a synchronous step
 * such as JSON.parse, and RSS rarely shrinks, so only the kernel's own peak is exact. Elsewhere
 * undefined, and measure() falls back to sampling.
 */
function kernelPeak(reset: boolean): number | undefined {
  try {
    if (reset) writeFileSync('/proc/self/clear_refs', '5');
    const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/** Runs `fn`; returns its time and the peak RSS above the start (the kernel's, where it has one). */
async function measure<T>(
  fn: () => Promise<T> | T,
): Promise<{ ms: number; peakMb: number; value: T }> {
  const exact = kernelPeak(true) !== undefined;
  const before = process.memoryUsage.rss();
  let sampled = before;
  const sample = () => {
    sampled = Math.max(sampled, process.memoryUsage.rss());
  };
  const timer = exact ? undefined : setInterval(sample, 2);
  const started = performance.now();
  try {
    const value = await fn();
    const ms = performance.now() - started;
    sample();
    const peak = (exact ? kernelPeak(false) : undefined) ?? sampled;
    return { ms, peakMb: Math.max(0, peak - before) / MB, value };
  } finally {
    clearInterval(timer);
  }
}

/** One typo in a word: drop its middle letter (deterministic). */
function typo(word: string): string {
  const middle = Math.floor(word.length / 2);
  return word.slice(0, middle) + word.slice(middle + 1);
}

interface Query {
  text: string;
  /** The practice the query is meant to find. */
  wants: string;
  /** Whether it names one practice (full name, name + city) rather than many (a prefix). */
  specific: boolean;
}

/**
 * A fixed mix over 8 practices spread through the directory: the exact name, the name with a
 * typo, the name without accents or case, a word + the city (specific), and a 6-letter prefix
 * and a lone misspelt word (ambiguous: they measure speed, not whether one practice is found).
 */
function queriesFor(practices: ReturnType<typeof generateDirectory>): Query[] {
  const queries: Query[] = [];
  for (let i = 0; i < 8; i++) {
    const p = practices[Math.floor((i * practices.length) / 8)];
    if (!p) continue;
    const name = p.name.trim();
    const words = normalizeText(name).split(' ');
    const longest = words.reduce((a, b) => (b.length > a.length ? b : a), '');
    const wants = p.code;
    queries.push({ text: name, wants, specific: true });
    queries.push({
      text: words.map((w) => (w === longest ? typo(w) : w)).join(' '),
      wants,
      specific: true,
    });
    queries.push({ text: normalizeText(name), wants, specific: true });
    if (p.address?.city)
      queries.push({ text: `${longest} ${p.address.city}`, wants, specific: true });
    queries.push({ text: name.slice(0, 6), wants, specific: false });
    queries.push({ text: typo(longest), wants, specific: false });
  }
  return queries;
}

export async function benchDirectory(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'fhirbridge-bench-directory-'));
  try {
    const generated = generateDirectory(PRACTICES, 'bench-directory');
    const path = join(dir, 'activated_clinical_endpoints.json');
    writeFileSync(
      path,
      JSON.stringify(directoryBundle(generated, (c) => `https://fhir4.healow.com/fhir/r4/${c}`)),
    );
    const sizeMb = statSync(path).size / MB;
    const store = await openSqliteStore({ path: join(dir, 'fhirbridge.db') });
    try {
      const policy = { allowLoopbackHttp: false };
      const service = createPracticeService({
        repo: store.practices,
        clock: systemClock,
        ...policy,
      });
      await service.listPractices({ limit: 1 }); // open and migrate outside the measurement

      const streamed = await measure(() =>
        readDirectory(readDirectorySource({ path }, policy), policy),
      );
      const imported = await measure(() => service.importDirectory({ path }));
      const reimported = await measure(() => service.importDirectory({ path }));
      const baseline = await measure(() => {
        const tree = JSON.parse(readFileSync(path, 'utf8')) as { entry: unknown[] };
        return tree.entry.length;
      });

      const importResult: BenchResult = {
        name: 'directory import',
        inputs: `${PRACTICES} practices, ${imported.value.entries} entries, ${round(sizeMb, 1)} MB file, SQLite file store`,
        figures: {
          importMs: round(imported.ms, 0),
          reimportMs: round(reimported.ms, 0),
          streamedReadMs: round(streamed.ms, 0),
          jsonParseMs: round(baseline.ms, 0),
          importVsJsonParse: ratio(imported.ms, baseline.ms),
          streamedReadVsJsonParse: ratio(streamed.ms, baseline.ms),
          importPeakRssDeltaMb: round(imported.peakMb, 1),
          streamedReadPeakRssDeltaMb: round(streamed.peakMb, 1),
          jsonParsePeakRssDeltaMb: round(baseline.peakMb, 1),
          streamedReadRssVsJsonParse: ratio(streamed.peakMb, baseline.peakMb),
          added: imported.value.added,
          reimportUnchanged: reimported.value.unchanged,
        },
      };

      const records: PracticeRecord[] = await store.practices.list({
        status: ['active'],
        limit: PRACTICES * 2,
      });
      const built = await measure(() => buildPracticeIndex(records));
      const index = built.value;
      const naiveRows = records.map((p) => ({
        p,
        text: `${p.name} ${p.city ?? ''}`.toLowerCase(),
      }));
      const naive = (q: string, limit: number) => {
        const needle = q.toLowerCase();
        const out: PracticeRecord[] = [];
        for (const row of naiveRows) {
          if (row.text.includes(needle)) out.push(row.p);
          if (out.length >= limit) break;
        }
        return out;
      };

      const queries = queriesFor(generated);
      const specific = queries.filter((q) => q.specific).length;
      const ours: number[] = [];
      const theirs: number[] = [];
      let oursFound = 0;
      let naiveFound = 0;
      for (let r = 0; r < SEARCH_ROUNDS; r++) {
        for (const q of queries) {
          let t = performance.now();
          const hits = index.search(q.text, 20);
          ours.push(performance.now() - t);
          t = performance.now();
          const naiveHits = naive(q.text, 20);
          theirs.push(performance.now() - t);
          if (r === 0 && q.specific) {
            if (hits.some((h) => h.practice.id === q.wants)) oursFound++;
            if (naiveHits.some((p) => p.id === q.wants)) naiveFound++;
          }
        }
      }
      const searchResult: BenchResult = {
        name: 'directory search',
        inputs: `${records.length} practices, ${queries.length} queries (exact, typo, accents, word + city, prefix) x ${SEARCH_ROUNDS} rounds, limit 20`,
        figures: {
          indexBuildMs: round(built.ms, 0),
          indexPeakRssDeltaMb: round(built.peakMb, 1),
          p50Ms: round(percentile(ours, 50), 3),
          p99Ms: round(percentile(ours, 99), 3),
          naiveP50Ms: round(percentile(theirs, 50), 3),
          naiveP99Ms: round(percentile(theirs, 99), 3),
          p50VsNaive: ratio(percentile(ours, 50), percentile(theirs, 50)),
          p99VsNaive: ratio(percentile(ours, 99), percentile(theirs, 99)),
          specificQueriesFoundInTop20: `${oursFound}/${specific}`,
          naiveSpecificQueriesFoundInTop20: `${naiveFound}/${specific}`,
        },
      };
      return [importResult, searchResult];
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node bin/run-ts.mjs bench/directory.ts` runs it alone and prints the figures.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const result of await benchDirectory()) {
    console.log(`${result.name} (${result.inputs})`);
    for (const [key, value] of Object.entries(result.figures)) console.log(`  ${key}: ${value}`);
  }
}
