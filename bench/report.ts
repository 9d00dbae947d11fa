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

function resultMarkdown(result: BenchResult): string[] {
  const targets = new Map((result.targets ?? []).map((t) => [t.figure, t]));
  const lines = [
    `### ${result.name}`,
    '',
    `Inputs: ${result.inputs}`,
    '',
    '| figure | value | target | met |',
    '| --- | ---: | --- | --- |',
  ];
  for (const [figure, value] of Object.entries(result.figures)) {
    const t = targets.get(figure);
    lines.push(
      `| ${figure} | ${cell(value)} | ${t ? t.target : ''} | ${t ? (t.met ? 'met' : '**not met**') : ''} |`,
    );
  }
  return [...lines, ''];
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
  return `${lines.join('\n')}\n`;
}
