// The import graph of src/ between its parts (a folder, or a file at the top of src/) keeps the
// directions docs/architecture.md states. Each rule fails on the first new edge that breaks it.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname);

/** The faces: what people and programs call. They wire the parts below them. */
const FACES = new Set(['api', 'web', 'cli', 'client']);
/** Wiring at the top of src/: the runtime and the servers built from it. */
const WIRING = new Set(['runtime', 'server', 'app', 'background', 'readiness']);
/** What every part may use, and which uses only itself (config: common). */
const FOUNDATION = new Set(['common', 'config']);

interface Edge {
  from: string;
  to: string;
  fromPart: string;
  toPart: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function partOf(file: string): string {
  const [first = '', ...rest] = relative(SRC, file).split('/');
  return rest.length === 0 ? first.replace(/\.ts$/, '') : first;
}

const isTest = (file: string) => file.endsWith('.test.ts');

/** Code only tests run: `*.test-helper.ts` and `*.contract.ts` beside the code they help test. */
const isScaffolding = (file: string) => /\.(test-helper|contract)\.ts$/.test(file);

/** Relative imports and re-exports, type-only ones included: a type ties two parts too. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [
    ...text.matchAll(/\bfrom\s+'(\.{1,2}\/[^']+)'|\bimport\(\s*'(\.{1,2}\/[^']+)'\s*\)/g),
  ];
  return specifiers.map((m) => resolve(dirname(file), (m[1] ?? m[2]) as string));
}

function edgesOf(files: string[]): Edge[] {
  return files.flatMap((file) =>
    importsOf(file)
      .filter((target) => target.startsWith(SRC))
      .map((target) => ({
        from: relative(SRC, file),
        to: relative(SRC, target),
        fromPart: partOf(file),
        toPart: partOf(target),
      }))
      .filter((e) => e.fromPart !== e.toPart),
  );
}

const allFiles = sourceFiles(SRC);
const codeEdges = edgesOf(allFiles.filter((f) => !isTest(f)));
const allEdges = edgesOf(allFiles);
const show = (edges: Edge[]) => edges.map((e) => `${e.from} -> ${e.to}`);

/** Parts that reach each other through imports, two or more at a time (Tarjan's algorithm). */
function cycles(edges: Edge[]): string[][] {
  const next = new Map<string, Set<string>>();
  for (const e of edges) {
    next.set(e.fromPart, (next.get(e.fromPart) ?? new Set()).add(e.toPart));
    if (!next.has(e.toPart)) next.set(e.toPart, new Set());
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v) as number);
    stack.push(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (stack.includes(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string | undefined;
      do {
        w = stack.pop();
        if (w !== undefined) component.push(w);
      } while (w !== v && w !== undefined);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of next.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('the dependencies between the parts of src/', () => {
  it('reads a graph with every part in it', () => {
    const parts = new Set(codeEdges.flatMap((e) => [e.fromPart, e.toPart]));
    for (const part of ['api', 'web', 'cli', 'store', 'sync', 'jobs', 'events', 'runtime']) {
      expect(parts).toContain(part);
    }
  });

  it('the core never imports a face or the wiring', () => {
    const core = (part: string) => !FACES.has(part) && !WIRING.has(part);
    const upward = codeEdges.filter(
      (e) => core(e.fromPart) && (FACES.has(e.toPart) || WIRING.has(e.toPart)),
    );
    expect(show(upward)).toEqual([]);
  });

  it('a face takes from the store only the port, never an adapter (the runtime picks one)', () => {
    const adapters = codeEdges.filter(
      (e) =>
        FACES.has(e.fromPart) && e.toPart === 'store' && !/^store\/port[a-z-]*\.ts$/.test(e.to),
    );
    expect(show(adapters)).toEqual([]);
  });

  it('api and web do not import each other', () => {
    const across = codeEdges.filter(
      (e) =>
        (e.fromPart === 'api' && e.toPart === 'web') ||
        (e.fromPart === 'web' && e.toPart === 'api'),
    );
    expect(show(across)).toEqual([]);
  });

  it('the foundation imports nothing above it: common nothing, config only common', () => {
    const out = codeEdges.filter(
      (e) => e.fromPart === 'common' || (e.fromPart === 'config' && e.toPart !== 'common'),
    );
    expect(show(out)).toEqual([]);
  });

  it('the store imports only the foundation', () => {
    const out = codeEdges.filter((e) => e.fromPart === 'store' && !FOUNDATION.has(e.toPart));
    expect(show(out)).toEqual([]);
  });

  it('the simulator imports nothing from the client, not even in its tests', () => {
    const out = allEdges.filter((e) => e.fromPart === 'simulator');
    expect(show(out)).toEqual([]);
  });

  it('code that runs in production imports no test scaffolding', () => {
    const production = allFiles.filter((f) => !isTest(f) && !isScaffolding(f));
    const out = production.flatMap((file) =>
      importsOf(file)
        .filter(isScaffolding)
        .map((target) => `${relative(SRC, file)} -> ${relative(SRC, target)}`),
    );
    expect(out).toEqual([]);
  });

  it('no two parts import each other, directly or around a loop', () => {
    expect(cycles(codeEdges)).toEqual([]);
  });
});
