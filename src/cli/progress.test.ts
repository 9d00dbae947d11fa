// The progress display: bars redrawn in place on a terminal, one line per finished type elsewhere.
import { describe, expect, it } from 'vitest';
import type { SyncProgress } from '../sync/index.ts';
import { createProgressView, typeSummary } from './progress.ts';

function output(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, out: { isTTY, columns: 120, write: (t: string) => chunks.push(t) } };
}

const progress = (types: SyncProgress['types']): SyncProgress => ({
  runId: 'job_1',
  connectionId: 'con_1',
  mode: 'full',
  types,
  startedAt: 0,
});

describe('progress view', () => {
  it('on a terminal, redraws one bar per type in place', () => {
    const { chunks, out } = output(true);
    let now = 0;
    const view = createProgressView({
      out,
      title: 'Syncing con_1',
      color: false,
      fps: 0,
      now: () => now,
    });
    expect(chunks.splice(0).join('')).toBe('\x1b[?25l');
    view.update(
      progress({
        Patient: { status: 'done', resources: 1, pages: 1 },
        Observation: { status: 'running', resources: 250, pages: 3 },
        Condition: { status: 'pending', resources: 0, pages: 0 },
      }),
    );
    const first = chunks.splice(0).join('');
    expect(first).not.toContain('\x1b[4F'); // nothing drawn before: no cursor move
    const lines = first.split('\n').map((l) => l.replace('\x1b[2K', ''));
    expect(lines[0]).toBe('Syncing con_1  1/3 types  251 resources  0.0s');
    expect(lines[1]).toBe(`  ✓ Patient      ${'█'.repeat(24)}  1 resource  1 page`);
    expect(lines[2]).toMatch(/^ {2}› Observation {2}░*█{6}░* {2}250 resources {2}3 pages$/);
    expect(lines[3]).toBe(`  · Condition    ${'░'.repeat(24)}  pending`);

    now = 2_500;
    view.update(
      progress({
        Patient: { status: 'done', resources: 1, pages: 1 },
        Observation: { status: 'done', resources: 400, pages: 4 },
        Condition: { status: 'failed', resources: 0, pages: 0 },
      }),
    );
    const second = chunks.splice(0).join('');
    expect(second.startsWith('\x1b[4F')).toBe(true); // back up over the 4 lines drawn
    expect(second).toContain('3/3 types  401 resources  2.5s');
    expect(second).toContain('  ✗ Condition');
    view.finish();
    expect(chunks.join('')).toContain('\x1b[?25h');
  });

  it('elsewhere, prints one line per type as it finishes', () => {
    const { chunks, out } = output(false);
    const view = createProgressView({ out, title: 'Syncing con_1', color: false });
    view.update(
      progress({
        Patient: { status: 'done', resources: 1, pages: 1 },
        Observation: { status: 'running', resources: 250, pages: 3 },
      }),
    );
    view.note('attempt 1 of 5 failed: HTTP 503; retrying');
    view.update(
      progress({
        Patient: { status: 'done', resources: 1, pages: 1 },
        Observation: { status: 'done', resources: 400, pages: 4 },
        Device: { status: 'skipped', resources: 0, pages: 0 },
      }),
    );
    view.finish();
    expect(chunks.join('')).toBe(
      [
        'Syncing con_1',
        'Patient: done, 1 resource in 1 page',
        'attempt 1 of 5 failed: HTTP 503; retrying',
        'Observation: done, 400 resources in 4 pages',
        'Device: skipped',
        '',
      ].join('\n'),
    );
    expect(chunks.join('')).not.toContain('\x1b[');
  });

  it('says how each type ended: timed out, refused by the server, failed', () => {
    const line = (outcome: 'timed_out' | 'unsupported' | 'failed', pages = 0) => ({
      status: 'failed' as const,
      outcome,
      resources: pages * 10,
      pages,
    });
    expect(typeSummary('DocumentReference', line('timed_out', 2))).toBe(
      'DocumentReference: timed out after 20 resources in 2 pages',
    );
    expect(typeSummary('Provenance', { ...line('unsupported'), status: 'skipped' })).toBe(
      'Provenance: not supported by this server',
    );
    expect(typeSummary('Goal', line('failed', 1))).toBe(
      'Goal: failed after 10 resources in 1 page',
    );
    expect(
      typeSummary('Patient', { status: 'done', outcome: 'complete', resources: 1, pages: 1 }),
    ).toBe('Patient: done, 1 resource in 1 page');
  });
});
