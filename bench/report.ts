// The benchmark report: every result's inputs and figures, each target beside its figure marked
// met or not, as Markdown for people (bench/report.md) and JSON for tools (bench/report.json).
import type { BenchResult, Preset } from './types.ts';

export interface Report {
  machine: string;
  preset: Preset;
  /** ISO time the run started. */
  started: string;
  /** Set when only one benchmark ran. */
  only?: string | undefined;
  results: Array<{ bench: string; seconds: number; results: BenchResult[]; error?: string }>;
}

export const reportJson = (report: Report): string => `${JSON.stringify(report, null, 2)}\n`;

const cell = (value: number | string) =>
  (typeof value === 'number' ? value.toLocaleString('en-US') : value).replaceAll('|', '\\|');

/** A Markdown table with padded columns (as the formatter writes them); `right` columns align right. */
function table(header: string[], rows: string[][], right: ReadonlySet<number>): string[] {
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) =>
    `| ${cells
      .map((c, i) => (right.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join(' | ')} |`;
  const rule = widths.map((w, i) => (right.has(i) ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w)));
  return [line(header), `| ${rule.join(' | ')} |`, ...rows.map(line)];
}

function resultMarkdown(result: BenchResult): string[] {
  const targets = new Map((result.targets ?? []).map((t) => [t.figure, t]));
  const rows = Object.entries(result.figures).map(([figure, value]) => {
    const t = targets.get(figure);
    return [figure, cell(value), t?.target ?? '', t ? (t.met ? 'met' : '**not met**') : ''];
  });
  return [
    `### ${result.name}`,
    '',
    `Inputs: ${result.inputs}`,
    '',
    ...table(['figure', 'value', 'target', 'met'], rows, new Set([1])),
    '',
    ...blockers(result),
  ];
}

/** Under a table, each target not met with what stands in its way. */
function blockers(result: BenchResult): string[] {
  const open = (result.targets ?? []).filter((t) => !t.met && t.blocker);
  if (open.length === 0) return [];
  return [...open.map((t) => `- **${t.figure} not met:** ${t.blocker}`), ''];
}

export function reportMarkdown(report: Report): string {
  const all = report.results.flatMap((r) => r.results.flatMap((x) => x.targets ?? []));
  const met = all.filter((t) => t.met).length;
  const lines = [
    '# Benchmark report',
    '',
    `Written by \`npm run bench\` (preset ${report.preset}${report.only ? `, only ${report.only}` : ''}), started ${report.started}.`,
    '',
    report.machine,
    '',
    `Targets met: ${met} of ${all.length}.`,
    '',
  ];
  for (const run of report.results) {
    lines.push(`## ${run.bench} (${run.seconds.toFixed(1)} s)`, '');
    if (run.error) lines.push(`Failed: ${run.error}`, '');
    for (const result of run.results) lines.push(...resultMarkdown(result));
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
