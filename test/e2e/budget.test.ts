// The call budget and the FHIR layer end to end, against the simulator over real HTTP with small
// rate windows (both sides clock-aligned on one shared clock): many clients at five practices
// spend each budget to the last call without a 429, a 429 storm locks the practice until its
// window ends, a `next` link to a foreign host never gets the token, and a caller's deadline ends
// in `budget_exhausted`. Real time passes and ends the windows, so assertions read the
// simulator's counters (calls per window), never a duration.
import { afterEach, describe, expect, it } from 'vitest';
import { pool } from '../../bench/stats.ts';
import type { BudgetUsage } from '../../src/budget/port.ts';
import { isBridgeError } from '../../src/common/errors.ts';
import { connectPatient } from './helpers/connect.ts';
import { type Front, type Recorder, startFront, startRecorder } from './helpers/front.ts';
import { freePort, type Stack, type StackOptions, startStack } from './helpers/stack.ts';

/**
 * One compressed "clock minute" (healow's is 60 000 ms) for the tests where real time ends the
 * windows and locks: long enough that their few calls stay inside a window on a loaded machine.
 */
const WINDOW_MS = 2000;
/** The simulator plays healow's 250 with 25; the bridge spends 24 of them, as 240 of 250. */
const SIM_LIMIT = 25;
const BUDGET_LIMIT = 24;

const PRACTICES = ['JAFJCD', 'BFGHDA', 'CDHJEB', 'DEBIFC', 'EGCAID'] as const;

interface PracticeCounters {
  callsTotal: number;
  rateLimited: number;
  recentWindows: Array<{ window: number; calls: number }>;
}

interface OperationOutcomeBody {
  resourceType: string;
  issue: Array<{ diagnostics?: string; details?: { text?: string } }>;
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function up(options: StackOptions = {}): Promise<Stack> {
  const stack = await startStack(options);
  closers.push(() => stack.close());
  return stack;
}

function compressed(windowMs = WINDOW_MS): StackOptions {
  return {
    simulator: { rateLimit: { limit: SIM_LIMIT, windowMs } },
    config: { budget: { limit: BUDGET_LIMIT, windowMs } },
  };
}

/** Moves the shared clock (bridge and simulator alike) to the start of the next window. */
function toNextWindow(s: Stack, windowMs = WINDOW_MS): number {
  const now = s.clock.now();
  s.clock.shift(windowMs - (now % windowMs));
  return Math.floor(s.clock.now() / windowMs);
}

/** Both fields, always: the simulator's PATCH fills an omitted one with its default. */
async function setSimLimit(s: Stack, limit: number, windowMs = WINDOW_MS): Promise<void> {
  const res = await s.admin('/rate-limit', {
    method: 'PATCH',
    body: JSON.stringify({ limit, windowMs }),
  });
  expect(await res.json()).toEqual({ limit, windowMs });
}

/** Zeroes the simulator's counters, e.g. after connecting, so that they count the test's calls. */
async function resetCounters(s: Stack): Promise<void> {
  expect((await s.admin('/counters/reset', { method: 'POST', body: '{}' })).status).toBe(204);
}

async function counters(s: Stack, code: string): Promise<PracticeCounters> {
  return (await (await s.admin(`/counters/${code}`)).json()) as PracticeCounters;
}

/** Calls the simulator counted in window `w` (429s included). */
const callsIn = (c: PracticeCounters, w: number) =>
  c.recentWindows.find((entry) => entry.window === w)?.calls ?? 0;

async function patientOf(s: Stack, connectionId: string): Promise<string> {
  const view = (await (await s.api(`/api/connections/${connectionId}`)).json()) as {
    patient: string;
  };
  return view.patient;
}

async function budgets(s: Stack): Promise<BudgetUsage[]> {
  return (await (await s.api('/api/budget')).json()) as BudgetUsage[];
}

async function budgetOf(s: Stack, code: string): Promise<BudgetUsage> {
  const all = await budgets(s);
  const usage = all.find((u) => u.practice === s.sim.fhirBase(code));
  if (!usage) throw new Error(`no budget for ${code} in ${JSON.stringify(all)}`);
  return usage;
}

describe('spending the budget (5 practices, many concurrent clients)', () => {
  it('uses ≥ 95 % of every window while work waits, never sees a 429, finishes all work', async () => {
    // One clock for bridge and simulator, moved a window on by the test, so that a call counts in
    // the window the bridge granted it in however loaded the machine. The test moves it once the
    // bridge is quiescent (no call under way, nothing granted for a while), whatever it spent:
    // a window the bridge leaves unspent while work waits shows, as the simulator counts.
    const windowMs = 60_000;
    const s = await up(compressed(windowMs));
    // Two patients at each practice: fairness between connections is part of the load.
    const connections = await Promise.all(
      PRACTICES.flatMap((practice) =>
        ['AdultFemaleFHIR', 'ChildMaleFHIR'].map(async (username) => {
          const { connectionId, outcome } = await connectPatient(s, { practice, username });
          expect(outcome).toBe('connected');
          return { practice, connectionId, patient: await patientOf(s, connectionId) };
        }),
      ),
    );
    await resetCounters(s);

    // 60 live reads per practice by 40 concurrent clients: 2½ windows of work at 24 a window.
    const READS = 60;
    const CLIENTS = 40;
    const start = toNextWindow(s, windowMs);
    let finished = false;
    const loaded = Promise.all(
      PRACTICES.map((practice) => {
        const mine = connections.filter((c) => c.practice === practice);
        const jobs = Array.from({ length: READS }, (_, i) => async () => {
          const { connectionId, patient } = mine[i % mine.length]!;
          const res = await s.api(`/api/connections/${connectionId}/fhir/Patient/${patient}`);
          await res.arrayBuffer();
          return res.status;
        });
        return pool(CLIENTS, jobs);
      }),
    ).finally(() => {
      finished = true;
    });

    /** Calls the bridge spent and the simulator counted, all practices: equal when quiescent. */
    const snapshot = async () => {
      const usage = await budgets(s);
      const counted = await Promise.all(PRACTICES.map((code) => counters(s, code)));
      return {
        usage,
        key: JSON.stringify([usage.map((u) => u.used), counted.map((c) => c.callsTotal)]),
      };
    };
    const windowsWithWork = new Map<string, number[]>(PRACTICES.map((p) => [p, []]));
    for (let w = start; !finished; w = toNextWindow(s, windowMs)) {
      expect(w - start, 'windows to finish 60 reads').toBeLessThan(6);
      let last = await snapshot();
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        const now = await snapshot();
        if (finished || now.key === last.key) break;
        last = now;
      }
      for (const code of PRACTICES) {
        const u = last.usage.find((x) => x.practice === s.sim.fhirBase(code));
        const waiting = u ? u.waiting.interactive + u.waiting.refresh + u.waiting.background : 0;
        if (waiting > 0) windowsWithWork.get(code)!.push(w);
      }
    }
    const statuses = await loaded;
    expect(statuses.flat().filter((status) => status !== 200)).toEqual([]);

    for (const practice of PRACTICES) {
      const c = await counters(s, practice);
      const seen = `${practice}, from window ${start}: ${JSON.stringify(c.recentWindows)}`;
      expect(c.rateLimited, `upstream 429s at ${seen}`).toBe(0);
      // Every read was exactly one upstream call: no retry, no refresh.
      expect(c.callsTotal, seen).toBe(READS);
      // Work waited at the end of the first two windows at least; each such window must be spent.
      const busy = windowsWithWork.get(practice)!;
      expect(busy.length, `windows with work waiting at ${seen}`).toBeGreaterThanOrEqual(2);
      for (const w of busy) {
        expect(callsIn(c, w), `calls in window ${w} at ${seen}`).toBeGreaterThanOrEqual(
          Math.ceil(0.95 * BUDGET_LIMIT),
        );
      }
    }
    expect((await budgets(s)).map((u) => u.rateLimited)).toEqual(PRACTICES.map(() => 0));
  });
});

describe('a 429 storm', () => {
  it('locks the practice until the window ends, shows the lock and its cause, then finishes', async () => {
    const s = await up(compressed());
    const { connectionId } = await connectPatient(s);
    const patient = await patientOf(s, connectionId);
    await resetCounters(s);
    // The simulator now rejects the 11th call of a window: far below the bridge's 24.
    const STORM_LIMIT = 10;
    await setSimLimit(s, STORM_LIMIT);

    const WORKERS = 3;
    const READS = 30;
    const storm = toNextWindow(s);
    let seenLock: BudgetUsage | undefined;
    let done = false;
    const watch = (async () => {
      while (!seenLock && !done) {
        const usage = await budgetOf(s, 'JAFJCD');
        if (usage.lockedUntil !== null) {
          seenLock = usage;
          // The storm is over at healow's end; the lock must still run out its window.
          await setSimLimit(s, SIM_LIMIT);
        }
      }
    })();
    const jobs = Array.from({ length: READS }, () => async () => {
      const res = await s.api(`/api/connections/${connectionId}/fhir/Patient/${patient}`);
      await res.arrayBuffer();
      return res.status;
    });
    const statuses = await pool(WORKERS, jobs).finally(() => {
      done = true;
    });
    await watch;
    expect(statuses.filter((status) => status !== 200)).toEqual([]);

    // GET /api/budget showed the lock until the end of the storm window, and why.
    expect(seenLock?.lockedUntil).toBe((storm + 1) * WINDOW_MS);
    expect(seenLock?.lockReason).toMatch(/429.*window ends/);
    expect(seenLock?.rateLimited).toBeGreaterThanOrEqual(1);

    const c = await counters(s, 'JAFJCD');
    // Without the lock the bridge would have spent its whole 24 in the storm window. With it,
    // only the calls already under way when the first 429 came back reach healow (one a worker,
    // with room for one more each that held its slot before the lock).
    expect(callsIn(c, storm)).toBeGreaterThan(STORM_LIMIT);
    expect(callsIn(c, storm)).toBeLessThanOrEqual(STORM_LIMIT + 2 * WORKERS);
    expect(c.rateLimited).toBe(callsIn(c, storm) - STORM_LIMIT);
    // Every rejected read was retried after the lock: all work done, each read once successfully.
    expect(c.callsTotal - c.rateLimited).toBe(READS);
    const after = await budgetOf(s, 'JAFJCD');
    expect(after).toMatchObject({ lockedUntil: null, lockReason: null });
    expect(after.rateLimited).toBe(c.rateLimited);
  });
});

describe('a next link to a foreign host', () => {
  /**
   * A stack whose practice bases are served by a front (the simulator's `publicUrl`), so that
   * the test can rewrite the answers of a "practice", and a recorder on another port.
   */
  async function fronted(): Promise<{ s: Stack; front: Front; recorder: Recorder }> {
    const simPort = await freePort();
    const front = await startFront(`http://127.0.0.1:${simPort}`);
    closers.push(() => front.close());
    const recorder = await startRecorder();
    closers.push(() => recorder.close());
    const s = await up({ simulator: { port: simPort, publicUrl: front.url } });
    return { s, front, recorder };
  }

  /** Rewrites the `next` link of first pages of `type` searches at JAFJCD. */
  function rewriteNext(front: Front, type: string, link: (original: URL) => string): void {
    front.rewrite = async ({ path, forward }) => {
      if (!path.startsWith(`/fhir/r4/JAFJCD/${type}?`)) return undefined;
      const bundle = (await (await forward()).json()) as {
        link?: Array<{ relation: string; url: string }>;
      };
      const next = bundle.link?.find((l) => l.relation === 'next');
      if (next) next.url = link(new URL(next.url));
      return Response.json(bundle, { headers: { 'content-type': 'application/fhir+json' } });
    };
  }

  it('refuses a link it cannot rebase: host_not_allowed, through the API and the client, no token sent', async () => {
    const { s, front, recorder } = await fronted();
    const { connectionId } = await connectPatient(s);
    const patient = await patientOf(s, connectionId);
    // Another server, another path: nothing to rebase onto the practice base.
    rewriteNext(front, 'Condition', (original) => `${recorder.url}/elsewhere/r4${original.search}`);

    const res = await s.api(
      `/api/connections/${connectionId}/fhir/Condition?patient=${patient}&_count=2`,
    );
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toContain('application/fhir+json');
    const outcome = (await res.json()) as OperationOutcomeBody;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.details?.text).toBe('host_not_allowed');
    expect(outcome.issue[0]?.diagnostics).toMatch(/not under the practice base path.*not followed/);

    const target = await s.runtime.fhirTarget(connectionId);
    const search = s.runtime.fhir.searchAll(
      target,
      'Condition',
      { patient, _count: '2' },
      { priority: 'interactive' },
    );
    await expect(search).rejects.toSatisfy((e) => isBridgeError(e, 'host_not_allowed'));
    expect(recorder.requests).toEqual([]);
  });

  it('follows a foreign-host link with a rebaseable path on the practice base only', async () => {
    const { s, front, recorder } = await fronted();
    const { connectionId } = await connectPatient(s);
    const patient = await patientOf(s, connectionId);
    // healow's shape: the right path on a host we did not choose.
    rewriteNext(
      front,
      'Condition',
      (original) => `${recorder.url}${original.pathname}${original.search}`,
    );
    const pages: string[] = [];
    const rewrite = front.rewrite;
    front.rewrite = async (request) => {
      if (request.path.includes('_getpages=')) pages.push(request.path);
      return rewrite?.(request);
    };

    const target = await s.runtime.fhirTarget(connectionId);
    const conditions = await s.runtime.fhir.searchAll(
      target,
      'Condition',
      { patient, _count: '2' },
      { priority: 'interactive' },
    );
    const truth = (await (await s.admin(`/data/JAFJCD/${patient}/counts`)).json()) as {
      Condition: number;
    };
    expect(conditions).toHaveLength(truth.Condition);
    expect(pages.length).toBe(Math.ceil(truth.Condition / 2) - 1);

    // Through the API: the next link now points at this proxy, and following it works.
    const first = await s.api(
      `/api/connections/${connectionId}/fhir/Condition?patient=${patient}&_count=2`,
    );
    expect(first.status).toBe(200);
    const bundle = (await first.json()) as { link: Array<{ relation: string; url: string }> };
    const next = bundle.link.find((l) => l.relation === 'next')?.url ?? '';
    expect(next.startsWith(`${s.url}/api/connections/${connectionId}/fhir/`)).toBe(true);
    const second = await s.api(next.slice(s.url.length));
    expect(second.status).toBe(200);
    expect(((await second.json()) as { entry: unknown[] }).entry).toHaveLength(2);
    expect(recorder.requests).toEqual([]);
  });

  it('refuses a redirect to a foreign host before sending the token', async () => {
    const { s, front, recorder } = await fronted();
    const { connectionId } = await connectPatient(s);
    const patient = await patientOf(s, connectionId);
    front.rewrite = async ({ path }) =>
      path.startsWith('/fhir/r4/JAFJCD/Patient/')
        ? new Response(null, { status: 302, headers: { location: `${recorder.url}${path}` } })
        : undefined;

    const res = await s.api(`/api/connections/${connectionId}/fhir/Patient/${patient}`);
    expect(res.status).toBe(502);
    const outcome = (await res.json()) as OperationOutcomeBody;
    expect(outcome.issue[0]?.details?.text).toBe('host_not_allowed');
    expect(outcome.issue[0]?.diagnostics).toContain('refusing to send the token');
    expect(recorder.requests).toEqual([]);
  });
});

describe("a caller's deadline", () => {
  it('gives budget_exhausted (503 OperationOutcome) when no call is free in time', async () => {
    // A long window that real time cannot end during the test; 3 calls in it.
    const WINDOW = 600_000;
    const s = await up({ config: { budget: { limit: 3, windowMs: WINDOW } } });
    const { connectionId } = await connectPatient(s);
    const patient = await patientOf(s, connectionId);
    await resetCounters(s);
    toNextWindow(s, WINDOW);
    const read = (prefer?: string) =>
      s.api(`/api/connections/${connectionId}/fhir/Patient/${patient}`, {
        ...(prefer ? { headers: { prefer } } : {}),
      });
    for (let i = 0; i < 3; i++) expect((await read()).status).toBe(200);

    // RFC 7240 `Prefer: wait=1`: the caller waits one second at most.
    const late = await read('wait=1');
    expect(late.status).toBe(503);
    const outcome = (await late.json()) as OperationOutcomeBody;
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.details?.text).toBe('budget_exhausted');
    expect(outcome.issue[0]?.diagnostics).toMatch(/no call budget .* the deadline passed/);
    // wait=0: not at all.
    const now = await read('respond-async, wait=0');
    expect(now.status).toBe(503);
    expect(((await now.json()) as OperationOutcomeBody).issue[0]?.details?.text).toBe(
      'budget_exhausted',
    );
    // The same through the runtime's FHIR client, with a deadline already past.
    const target = await s.runtime.fhirTarget(connectionId);
    await expect(
      s.runtime.fhir.read(target, 'Patient', patient, {
        priority: 'background',
        deadline: s.clock.now(),
      }),
    ).rejects.toSatisfy((e) => isBridgeError(e, 'budget_exhausted'));

    // Nothing refused reached healow, and nobody is left waiting.
    const c = await counters(s, 'JAFJCD');
    expect(c.callsTotal).toBe(3);
    expect((await budgetOf(s, 'JAFJCD')).waiting).toEqual({
      interactive: 0,
      refresh: 0,
      background: 0,
    });

    // The next window frees the budget again.
    toNextWindow(s, WINDOW);
    expect((await read('wait=1')).status).toBe(200);
  });
});
