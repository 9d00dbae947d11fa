// The fault campaign: patients connected through the real flow, then a seeded random walk of
// refreshes, proxied reads and syncs, each under a fault set through the simulator's switches
// (5xx, 429 storms, truncated bodies, dropped sockets, held calls, clock skew, the token, JWKS,
// discovery and authorize endpoints down) or ended by a SIGKILL of the process doing it (a
// refresh held inside the token call, a sync mid-way). Then every fault is lifted, each live
// connection is refreshed and synced once more, and the outcome is judged against the
// simulator's ground truth: its grants (was a connection given up while the EHR still honours
// it?), its records (is a resource missing or stored twice?) and the event log (did every sync
// end in sync.completed or exactly one sync.failed?).
import { Writable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { runSyncCommand } from '../../../src/cli/sync.ts';
import { createLogger } from '../../../src/common/logger.ts';
import type { Job } from '../../../src/jobs/index.ts';
import type { ConnectionRecord } from '../../../src/store/port.ts';
import { type ChaosStack, startChaosStack } from './chaos-stack.ts';
import { connectPatient } from './connect.ts';
import { expectedRecord, grantedTypesOf, type Truth } from './ground-truth.ts';

export interface CampaignOptions {
  seed: number;
  /** Keep going until at least this many faults were injected… */
  faults: number;
  /** …and this many processes were killed. */
  kills: number;
  /** Patients connected (one practice each, round robin over the six). */
  patients: number;
  resourcesPerPatient: number;
  /** Calls held until the client gives up (30 s each in-process); off for the bounded run. */
  heldCalls: boolean;
  log?: (line: string) => void;
}

export interface LostConnection {
  connectionId: string;
  state: string;
  reason: string | null;
  /** Whether an answer of the token endpoint for it was lost on the way (truncated, killed). */
  answerLost: boolean;
}

export interface SyncFinding {
  connectionId: string;
  jobId: string;
  status: string;
  attempts: number;
  completedEvents: number;
  failedEvents: number;
  what: string;
}

export interface ChaosReport {
  seed: number;
  durationMs: number;
  faults: { injected: number; byKind: Record<string, number> };
  kills: { total: number; byKind: Record<string, number> };
  actions: Record<string, number>;
  connects: {
    attempted: number;
    connected: number;
    failedUnderFault: number;
    /** Sign-ins that failed with every fault lifted (the first line of each error). */
    failedWithoutFault: string[];
  };
  refreshes: { attempted: number; succeeded: number; failed: Record<string, number> };
  proxy: { calls: number; byStatus: Record<string, number>; hung: number };
  connections: {
    total: number;
    /** Final state of every connection. */
    states: Record<string, number>;
    /** Every state any connection was seen in during the campaign. */
    statesSeen: string[];
    lost: LostConnection[];
    /** Connections whose token answer was lost, and that came out reauthorization_required. */
    reauthorizedAfterLostAnswer: number;
    answerLost: number;
    revokedByPatient: number;
  };
  resources: {
    connectionsCompared: number;
    expected: number;
    stored: number;
    lost: string[];
    doubled: string[];
    differing: string[];
    extra: string[];
    /** Where the first differing resource departs from the truth. */
    differingSample?: string;
  };
  syncs: {
    jobs: number;
    succeeded: number;
    failed: number;
    unfinished: number;
    runs: Record<string, number>;
    events: Record<string, number>;
    findings: SyncFinding[];
  };
}

/** mulberry32: the campaign's one source of randomness, so a seed replays the same choices. */
export function seededRandom(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const USERNAMES = ['AdultFemaleFHIR', 'AdultMaleFHIR', 'ChildFemaleFHIR', 'ChildMaleFHIR'];
const PRACTICES = ['JAFJCD', 'BFGHDA', 'CDHJEB', 'DEBIFC', 'EGCAID', 'FJDBGE'];
/** Past the refresh lease (45 s at least) and the budget's one-minute window. */
const TIME_PASSES_MS = 61_000;
const WINDOW_MS = 5_000;
/** Claims of a sync job before it fails for good (a killed process's claim counts). */
const SYNC_ATTEMPTS = 3;
const TERMINAL_BAD = new Set(['revoked', 'expired', 'reauthorization_required']);

interface Patient {
  practice: string;
  username: string;
  userRef: string;
  connectionId?: string;
  answerLost: boolean;
  revokedByPatient: boolean;
}

type FaultBody = Record<string, unknown>;

/** The entry whose share of the total weight contains `draw` (in [0, 1)). */
function weighted<T extends [string, number, ...unknown[]]>(
  entries: readonly T[],
  draw: number,
): T {
  let left = draw * entries.reduce((n, [, w]) => n + w, 0);
  for (const entry of entries) {
    left -= entry[1];
    if (left < 0) return entry;
  }
  return entries[entries.length - 1]!;
}

const inc = (counts: Record<string, number>, key: string, by = 1) => {
  counts[key] = (counts[key] ?? 0) + by;
};
const sink = () =>
  new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runCampaign(options: CampaignOptions): Promise<ChaosReport> {
  const started = Date.now();
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const log = options.log ?? (() => {});

  // The bridge's warnings and errors, the latest kept: why a sign-in with no fault failed.
  const recentLog: string[] = [];
  const logger = createLogger({
    level: 'warn',
    destination: new Writable({
      write(chunk, _encoding, done) {
        recentLog.push(String(chunk));
        if (recentLog.length > 20) recentLog.shift();
        done();
      },
    }),
  });
  const stack = await startChaosStack({
    logger,
    simulator: {
      resourcesPerPatient: options.resourcesPerPatient,
      // Five-second rate windows on both sides: a 429 storm locks a practice until its window
      // ends, and a campaign of hundreds of storms cannot wait out minutes for each.
      rateLimit: { limit: 250, windowMs: WINDOW_MS },
      seed: `chaos-${options.seed}`,
    },
    config: {
      budget: { limit: 240, windowMs: WINDOW_MS },
      // Syncs run where the campaign says: in this process or in a child it may kill.
      sync: {
        concurrency: 0,
        onConnect: false,
        intervalMs: 0,
        leaseMs: 2_000,
        retryDelayMs: 0,
        maxAttempts: SYNC_ATTEMPTS,
      },
      // Every patient of the campaign signs in from this one address, hundreds of times: the
      // per-address and per-browser sign-in limits would refuse it, rightly, with a 429.
      signIn: {
        perAddress: { limit: 100_000, windowMs: 60_000 },
        perBrowser: { limit: 100_000, windowMs: 60_000 },
      },
    },
  });
  const report: ChaosReport = {
    seed: options.seed,
    durationMs: 0,
    faults: { injected: 0, byKind: {} },
    kills: { total: 0, byKind: {} },
    actions: {},
    connects: { attempted: 0, connected: 0, failedUnderFault: 0, failedWithoutFault: [] },
    refreshes: { attempted: 0, succeeded: 0, failed: {} },
    proxy: { calls: 0, byStatus: {}, hung: 0 },
    connections: {
      total: 0,
      states: {},
      statesSeen: [],
      lost: [],
      reauthorizedAfterLostAnswer: 0,
      answerLost: 0,
      revokedByPatient: 0,
    },
    resources: {
      connectionsCompared: 0,
      expected: 0,
      stored: 0,
      lost: [],
      doubled: [],
      differing: [],
      extra: [],
    },
    syncs: { jobs: 0, succeeded: 0, failed: 0, unfinished: 0, runs: {}, events: {}, findings: [] },
  };
  const statesSeen = new Set<string>();
  const s = stack;

  async function fault(kind: string, body: FaultBody): Promise<string> {
    const res = await s.admin('/faults', { method: 'POST', body: JSON.stringify(body) });
    if (res.status !== 201) throw new Error(`fault ${kind}: ${res.status} ${await res.text()}`);
    report.faults.injected += 1;
    inc(report.faults.byKind, kind);
    return ((await res.json()) as { id: string }).id;
  }
  async function clearFaults(): Promise<void> {
    const res = await s.admin('/faults', { method: 'DELETE', body: '{}' });
    if (res.status !== 204) throw new Error(`clearing the faults: ${res.status}`);
  }
  async function faultIds(): Promise<Set<string>> {
    const list = (await (await s.admin('/faults')).json()) as Array<{ id: string }>;
    return new Set(list.map((f) => f.id));
  }
  async function counters(practice: string) {
    return (await (await s.admin(`/counters/${practice}`)).json()) as { refreshes: number };
  }
  async function connection(p: Patient): Promise<ConnectionRecord | undefined> {
    if (!p.connectionId) return undefined;
    const record = await s.runtime.store.connections.get(p.connectionId);
    if (record) statesSeen.add(record.state);
    return record;
  }
  /** An admin call that must work: a lever that silently failed would make the run a lie. */
  async function lever(path: string, method: string, body: unknown): Promise<void> {
    const res = await s.admin(path, { method, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${method} /admin${path}: ${res.status} ${await res.text()}`);
  }
  const skew = (ms: number) => lever('/clock/shift', 'POST', { ms });
  const rateLimit = (limit: number) => lever('/rate-limit', 'PATCH', { limit });
  function answerLost(p: Patient): void {
    if (!p.answerLost) report.connections.answerLost += 1;
    p.answerLost = true;
  }
  /** Time passes for everyone: leases of killed processes and budget locks run out. */
  const timePasses = () => s.clock.shift(TIME_PASSES_MS);

  /** One upstream fault on a route, for the next call or a share of calls. */
  async function upstreamFault(route: string, extra: FaultBody = {}): Promise<string> {
    const kind = pick(['5xx', '5xx-share', 'truncated', 'dropped']);
    const status = pick([500, 502, 503, 504]);
    const body: FaultBody =
      kind === '5xx'
        ? { route, errorRate: 1, errorStatus: status, times: between(1, 3) }
        : kind === '5xx-share'
          ? { route, errorRate: 0.2 + random() * 0.3, errorStatus: status, times: between(4, 12) }
          : kind === 'truncated'
            ? { route, malformedJson: true, times: between(1, 3) }
            : { route, dropConnection: true, times: between(1, 2) };
    await fault(`${route} ${kind}`, { ...body, ...extra });
    return kind;
  }

  /**
   * A forced refresh in this process. An attempt that failed while the EHR counted a refresh is
   * one whose answer was lost on the way: the EHR rotated, we never heard.
   */
  async function refreshInProcess(p: Patient, what: string): Promise<void> {
    report.refreshes.attempted += 1;
    const before = (await counters(p.practice)).refreshes;
    try {
      await s.runtime.vault.refresh(p.connectionId!, { force: true });
      report.refreshes.succeeded += 1;
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'internal';
      inc(report.refreshes.failed, code);
      log(`  refresh (${what}) of ${p.connectionId}: ${code}: ${(error as Error).message}`);
      if ((await counters(p.practice)).refreshes > before) answerLost(p);
    }
    await connection(p);
  }

  async function connect(p: Patient, underFault: boolean): Promise<boolean> {
    report.connects.attempted += 1;
    try {
      const result = await connectPatient(s, {
        practice: p.practice,
        username: p.username,
        userRef: p.userRef,
      });
      p.connectionId = result.connectionId;
      if (result.outcome !== 'connected') throw new Error(`outcome ${result.outcome}`);
      report.connects.connected += 1;
      await connection(p);
      return true;
    } catch (error) {
      if (!underFault) {
        const last = JSON.parse(recentLog.at(-1) ?? '{}') as {
          msg?: string;
          err?: { message?: string };
        };
        const line = `${(error as Error).message.split('\n')[0]} (bridge log: ${last.err?.message ?? last.msg ?? 'nothing'})`;
        report.connects.failedWithoutFault.push(`${p.username}@${p.practice}: ${line}`);
        log(`  connect of ${p.username}@${p.practice} with no fault: ${line}`);
        await connection(p);
        return false;
      }
      report.connects.failedUnderFault += 1;
      log(`  connect of ${p.username}@${p.practice} under fault: ${(error as Error).message}`);
      await connection(p);
      return false;
    }
  }

  /** A sign-in with no fault, tried again while time passes (a window, a cooldown) if need be. */
  async function connectAgain(p: Patient): Promise<boolean> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      if (await connect(p, false)) return true;
      timePasses();
      await pause(attempt * 2_000);
    }
    return false;
  }

  const patients: Patient[] = Array.from({ length: options.patients }, (_, i) => ({
    practice: PRACTICES[i % PRACTICES.length]!,
    username: USERNAMES[Math.floor(i / PRACTICES.length) % USERNAMES.length]!,
    userRef: `chaos-user-${i}`,
    answerLost: false,
    revokedByPatient: false,
  }));

  // --- Actions -------------------------------------------------------------------------------

  /** A connect (or reconnect) with authorize, discovery, token or JWKS trouble, then a clean one. */
  async function connectUnderFault(p: Patient): Promise<void> {
    const route = pick(['authorize', 'discovery', 'token', 'jwks']);
    await upstreamFault(route, route === 'discovery' ? { practice: p.practice } : {});
    const ok = await connect(p, true);
    await clearFaults();
    const record = await connection(p);
    if (!ok || record?.state !== 'active') await connectAgain(p);
  }

  async function refreshUnderFault(p: Patient): Promise<void> {
    let kind = 'dropped after the work';
    if (random() < 0.25) {
      // The EHR rotates, then the socket drops: an answer lost with nothing truncated to see.
      await fault('token dropped after the work', {
        route: 'token',
        dropConnection: true,
        afterHandler: true,
        times: 1,
      });
    } else {
      kind = await upstreamFault('token');
    }
    await refreshInProcess(p, `token ${kind}`);
    await clearFaults();
    // The next refresh is where a lost answer shows: invalid_grant for the old token.
    await refreshInProcess(p, 'after the fault');
  }

  /** A `connections refresh` process killed while the token endpoint holds its call. */
  async function killInsideTokenCall(p: Patient): Promise<void> {
    const holdMs = between(800, 2_000);
    const before = (await counters(p.practice)).refreshes;
    // The EHR does the work, then holds its answer: the process dies while it waits.
    const id = await fault('token answer held', {
      route: 'token',
      latencyMs: holdMs,
      afterHandler: true,
      times: 1,
    });
    const child = s.spawnBridge(['connections', 'refresh', p.connectionId!]);
    // Hit means the call is inside the EHR now: the fault is used up as the request arrives.
    const deadline = Date.now() + 30_000;
    while ((await faultIds()).has(id)) {
      if (child.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`the refresh process never reached the token call: ${child.output()}`);
      }
      await pause(20);
    }
    await pause(between(0, Math.floor(holdMs / 2)));
    child.child.kill('SIGKILL');
    await child.exited;
    report.kills.total += 1;
    inc(report.kills.byKind, 'inside the token call');
    // Whether the EHR rotated the refresh token for a process that never heard back.
    await pause(holdMs);
    if ((await counters(p.practice)).refreshes > before) answerLost(p);
    timePasses();
    await refreshInProcess(p, 'after a kill inside the token call');
  }

  /** A `connections refresh` process killed at a random moment of its life. */
  async function killRefreshAnywhere(p: Patient): Promise<void> {
    const before = (await counters(p.practice)).refreshes;
    const child = s.spawnBridge(['connections', 'refresh', p.connectionId!]);
    await Promise.race([pause(between(300, 2_500)), child.exited]);
    const killed = child.child.exitCode === null && child.child.kill('SIGKILL');
    await child.exited;
    if (killed) {
      report.kills.total += 1;
      inc(report.kills.byKind, 'refresh at a random moment');
      // The EHR may have rotated the token without the process storing the answer.
      if ((await counters(p.practice)).refreshes !== before) answerLost(p);
    }
    timePasses();
    await refreshInProcess(p, 'after a random kill');
  }

  /** Sync faults on FHIR: one of the upstream ones, a 429 storm, or clock skew. */
  async function fhirTrouble(p: Patient): Promise<() => Promise<void>> {
    const kind = pick(['upstream', 'upstream', 'storm', 'skew', 'latency']);
    if (kind === 'upstream') {
      await upstreamFault('fhir', { practice: p.practice });
      return async () => {};
    }
    if (kind === 'latency') {
      await fault('fhir latency', {
        route: 'fhir',
        practice: p.practice,
        latencyMs: between(20, 200),
        times: between(5, 30),
      });
      return async () => {};
    }
    if (kind === 'storm') {
      // The practice's allowance shrinks to almost nothing: a storm of 429s until the window ends.
      await rateLimit(3);
      inc(report.faults.byKind, '429 storm');
      report.faults.injected += 1;
      const storm = pause(between(500, 3_000)).then(() => rateLimit(250));
      return async () => {
        await storm;
        timePasses();
      };
    }
    const ms = pick([-1, 1]) * between(10_000, 240_000);
    await skew(ms);
    inc(report.faults.byKind, 'clock skew');
    report.faults.injected += 1;
    return () => skew(-ms);
  }

  async function syncInProcess(p: Patient, what: string): Promise<string> {
    try {
      const status = await runSyncCommand(s.runtime, p.connectionId!, {
        out: sink(),
        err: sink(),
      });
      inc(report.syncs.runs, status);
      return status;
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'internal';
      inc(report.syncs.runs, `refused: ${code}`);
      log(`  sync (${what}) of ${p.connectionId}: ${code}: ${(error as Error).message}`);
      return code;
    } finally {
      await connection(p);
    }
  }

  async function syncUnderFault(p: Patient): Promise<void> {
    const lifts = [await fhirTrouble(p)];
    if (random() < 0.3) lifts.push(await fhirTrouble(p));
    await syncInProcess(p, 'under fault');
    await clearFaults();
    for (const lift of lifts) await lift();
  }

  /** A `fhirbridge sync` process killed mid-way (seen from its job's progress). */
  async function killSync(p: Patient): Promise<void> {
    await fault('fhir latency', { route: 'fhir', practice: p.practice, latencyMs: 40 });
    if (random() < 0.5) await upstreamFault('fhir', { practice: p.practice });
    const [before] = await s.runtime.jobs.list({ connectionId: p.connectionId!, limit: 1 });
    const attemptsBefore = before?.status === 'running' ? before.attempts : 0;
    const child = s.spawnBridge(['sync', p.connectionId!]);
    const pagesOf = (job: Job | undefined) => {
      const types = (job?.progress as { types?: Record<string, { pages: number }> } | null)?.types;
      return Object.values(types ?? {}).reduce((n, t) => n + t.pages, 0);
    };
    // Killed once this process has claimed the job (its attempt counts) and written a few pages.
    let pagesAtClaim: number | undefined;
    const pages = between(1, 6);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.child.exitCode !== null || Date.now() > deadline) break;
      const [job] = await s.runtime.jobs.list({ connectionId: p.connectionId!, limit: 1 });
      if (job?.status === 'running' && job.attempts > attemptsBefore) {
        pagesAtClaim ??= pagesOf(job);
        if (pagesOf(job) >= pagesAtClaim + pages) break;
      }
      await pause(20);
    }
    const killed = child.child.exitCode === null && child.child.kill('SIGKILL');
    await child.exited;
    if (killed) {
      report.kills.total += 1;
      inc(report.kills.byKind, 'sync mid-way');
    } else {
      inc(report.syncs.runs, `child exited before the kill: ${String(child.child.exitCode)}`);
    }
    await clearFaults();
  }

  /** A sync whose every process is killed: its job runs out of attempts and must say so once. */
  async function exhaustSync(p: Patient): Promise<void> {
    for (let i = 0; i < SYNC_ATTEMPTS; i++) await killSync(p);
    await syncInProcess(p, 'after its attempts ran out');
  }

  async function proxyUnderFault(p: Patient): Promise<void> {
    const lift = await fhirTrouble(p);
    const record = await connection(p);
    const paths = [
      `Patient/${record?.patientId}`,
      `Condition?patient=${record?.patientId}`,
      `Observation?patient=${record?.patientId}&category=vital-signs`,
    ];
    const calls = between(3, 8);
    await Promise.all(
      Array.from({ length: calls }, async () => {
        report.proxy.calls += 1;
        const began = Date.now();
        try {
          const res = await s.api(`/api/connections/${p.connectionId}/fhir/${pick(paths)}`, {
            signal: AbortSignal.timeout(45_000),
          });
          const body = await res.text();
          inc(report.proxy.byStatus, String(res.status));
          if (Date.now() - began > 5_000 || res.status >= 500)
            log(`  proxy ${res.status} in ${Date.now() - began} ms: ${body.slice(0, 200)}`);
        } catch {
          report.proxy.hung += 1;
        }
      }),
    );
    await clearFaults();
    await lift();
  }

  /** A held call (never answered): the client's own timeout has to end it. */
  async function heldCall(p: Patient): Promise<void> {
    await fault('fhir held', { route: 'fhir', practice: p.practice, timeout: true, times: 1 });
    await syncInProcess(p, 'a held FHIR call');
    await clearFaults();
  }

  /** The patient revokes the app in the portal: `revoked` is the right answer here. */
  async function patientRevokes(p: Patient): Promise<void> {
    const res = await s.admin('/revoke', {
      method: 'POST',
      body: JSON.stringify({
        clientId: s.runtime.config.registrations.sandbox?.clientId,
        username: p.username,
        practiceCode: p.practice,
      }),
    });
    if (!res.ok) throw new Error(`revoke: ${res.status}`);
    p.revokedByPatient = true;
    report.connections.revokedByPatient += 1;
    await refreshInProcess(p, 'after the patient revoked');
  }

  // --- The walk ------------------------------------------------------------------------------

  try {
    for (const p of patients) {
      if (!(await connectAgain(p))) throw new Error(`${p.username}@${p.practice} never connected`);
    }
    log(`connected ${patients.length} patients; seed ${options.seed}`);

    const actions: Array<[string, number, (p: Patient) => Promise<void>]> = [
      ['connect under fault', 3, connectUnderFault],
      ['refresh under fault', 4, refreshUnderFault],
      ['kill inside the token call', 2, killInsideTokenCall],
      ['kill a refresh anywhere', 1, killRefreshAnywhere],
      ['sync under fault', 2, syncUnderFault],
      ['kill a sync', 2, killSync],
      ['proxy under fault', 3, proxyUnderFault],
      ...(options.heldCalls
        ? ([['held call', 0.1, heldCall]] as Array<[string, number, (p: Patient) => Promise<void>]>)
        : []),
    ];
    let revoked = false;
    let exhausted = false;
    while (report.faults.injected < options.faults || report.kills.total < options.kills) {
      // A connection that ended is judged now, then the app has the patient reconnect.
      for (const p of patients) {
        const record = await connection(p);
        if (record && TERMINAL_BAD.has(record.state)) {
          await judgeEnded(s, p, record, report);
          p.answerLost = false;
          p.revokedByPatient = false;
        }
        if (record?.state !== 'active') await connectAgain(p);
      }
      const live = [];
      for (const p of patients) if ((await connection(p))?.state === 'active') live.push(p);
      if (live.length === 0) throw new Error('no patient could be connected again');
      const p = pick(live);
      // Kills come at the rate that reaches their count with the faults'.
      const killPace = report.kills.total / options.kills - report.faults.injected / options.faults;
      const choices = killPace > 0.05 ? actions.filter(([n]) => !n.startsWith('kill')) : actions;
      let action = weighted(choices, random());
      if (killPace < -0.05 && random() < 0.5)
        action = pick(actions.filter(([name]) => name.startsWith('kill')));
      if (!exhausted && report.faults.injected > options.faults / 3) {
        exhausted = true;
        action = ['kill a sync until it gives up', 0, exhaustSync];
      } else if (!revoked && report.faults.injected > options.faults / 2) {
        revoked = true;
        action = ['patient revokes', 0, patientRevokes];
      }
      inc(report.actions, action[0]);
      const faultsBefore = { ...report.faults.byKind };
      const began = Date.now();
      log(`${action[0]}: ${p.username}@${p.practice} (${p.connectionId})…`);
      await action[2](p);
      log(
        `${action[0]}: ${p.username}@${p.practice} (${p.connectionId}) ${Date.now() - began} ms, faults ${Object.keys(
          report.faults.byKind,
        )
          .filter((k) => report.faults.byKind[k] !== faultsBefore[k])
          .join(', ')}; ${report.faults.injected} faults, ${report.kills.total} kills`,
      );
    }

    // --- Every fault lifted: what is left? ---------------------------------------------------
    await clearFaults();
    await rateLimit(250);
    timePasses();
    for (const p of patients) {
      if ((await connection(p))?.state === 'active') await refreshInProcess(p, 'final');
      // Judged like any ending, then signed in again, so that every record is compared.
      const after = await connection(p);
      if (after && TERMINAL_BAD.has(after.state)) {
        await judgeEnded(s, p, after, report);
        p.answerLost = false;
        p.revokedByPatient = false;
      }
      if (after?.state !== 'active') await connectAgain(p);
      if ((await connection(p))?.state !== 'active') continue;
      // Twice: a job left failed is not resumed; the second run is the one that must finish.
      if ((await syncInProcess(p, 'final')) !== 'synced') await syncInProcess(p, 'final, again');
    }
    await judge(s, patients, report);
    report.connections.statesSeen = [...statesSeen].sort();
  } finally {
    await stack.close();
  }
  report.durationMs = Date.now() - started;
  return report;
}

// --- Judging -------------------------------------------------------------------------------

async function judge(s: ChaosStack, patients: Patient[], report: ChaosReport): Promise<void> {
  const results = [];
  for (const p of patients) {
    if (!p.connectionId) continue;
    const record = await s.runtime.store.connections.get(p.connectionId);
    if (!record) continue;
    report.connections.total += 1;
    inc(report.connections.states, record.state);
    if (TERMINAL_BAD.has(record.state)) await judgeEnded(s, p, record, report);
    if (record.state === 'active') results.push(compareRecord(s, p, record, report));
    await judgeSyncs(s, record.id, report, record.state === 'active');
  }
  await Promise.all(results);
}

/**
 * A connection that ended (revoked, expired, reauthorization_required) is lost when the EHR
 * still honours the patient's grant, except in the one window nobody can close: the EHR rotated
 * the refresh token and its answer never came back, where reauthorization_required is honest.
 */
async function judgeEnded(
  s: ChaosStack,
  p: Patient,
  record: ConnectionRecord,
  report: ChaosReport,
): Promise<void> {
  const grants = (await (await s.admin('/grants')).json()) as Array<{
    practiceCode: string;
    username: string;
    revoked: boolean;
    refreshExpiresAt: string;
  }>;
  const simNow = ((await (await s.admin('/clock')).json()) as { now: number }).now;
  const honoured = grants.some(
    (g) =>
      g.practiceCode === p.practice &&
      g.username === p.username &&
      !g.revoked &&
      Date.parse(g.refreshExpiresAt) > simNow,
  );
  if (!honoured) return;
  if (record.state === 'reauthorization_required' && p.answerLost) {
    report.connections.reauthorizedAfterLostAnswer += 1;
    return;
  }
  report.connections.lost.push({
    connectionId: record.id,
    state: record.state,
    reason: record.stateReason,
    answerLost: p.answerLost,
  });
}

async function compareRecord(
  s: ChaosStack,
  p: Patient,
  record: ConnectionRecord,
  report: ChaosReport,
): Promise<void> {
  const res = await s.admin(`/data/${p.practice}/${p.username}/resources`);
  const truth = ((await res.json()) as { entry?: Array<{ resource: Truth }> }).entry ?? [];
  const expected = expectedRecord(
    truth.map((e) => e.resource),
    grantedTypesOf(record.grantedScopes),
  );
  const got = new Map<string, string>();
  for await (const r of s.runtime.store.resources.iterate(record.id)) {
    const key = `${r.type}/${r.id}`;
    if (got.has(key)) report.resources.doubled.push(`${record.id} ${key}`);
    got.set(key, r.json);
    report.resources.stored += 1;
  }
  report.resources.connectionsCompared += 1;
  report.resources.expected += expected.size;
  for (const [key, json] of expected) {
    const stored = got.get(key);
    if (stored === undefined) report.resources.lost.push(`${record.id} ${key}`);
    // Compared as JSON values: the FHIR server may write a decimal as 28.0 where the ground
    // truth's serializer writes 28, and the store keeps the bytes the server sent.
    else if (stored !== json && !isDeepStrictEqual(JSON.parse(stored), JSON.parse(json))) {
      report.resources.differing.push(`${record.id} ${key}`);
      const at = [...json].findIndex((ch, i) => stored[i] !== ch);
      report.resources.differingSample ??= `${key} at ${at}: stored …${stored.slice(Math.max(0, at - 60), at + 80)}… truth …${json.slice(Math.max(0, at - 60), at + 80)}…`;
    }
  }
  for (const key of got.keys())
    if (!expected.has(key)) report.resources.extra.push(`${record.id} ${key}`);
}

/**
 * Each sync job, with the events written while it lived: a success needs its sync.completed and
 * no sync.failed (an attempt that is retried is not a failure); a job that failed for good needs
 * exactly one sync.failed. Jobs still open after the final runs are unfinished.
 */
async function judgeSyncs(
  s: ChaosStack,
  connectionId: string,
  report: ChaosReport,
  active: boolean,
): Promise<void> {
  const jobs = (await s.runtime.jobs.list({ kind: 'sync', connectionId, limit: 500 })).sort(
    (a, b) => a.createdAt - b.createdAt,
  );
  const events = (await s.runtime.store.events.list({ connectionId, limit: 5_000 })).filter((e) =>
    e.type.startsWith('sync.'),
  );
  for (const e of events) inc(report.syncs.events, e.type);
  for (const [i, job] of jobs.entries()) {
    report.syncs.jobs += 1;
    const end = jobs[i + 1]?.createdAt ?? Number.POSITIVE_INFINITY;
    const mine = events.filter((e) => e.createdAt >= job.createdAt && e.createdAt < end);
    const completedEvents = mine.filter((e) => e.type === 'sync.completed').length;
    const failedEvents = mine.filter((e) => e.type === 'sync.failed').length;
    const finding = (what: string) =>
      report.syncs.findings.push({
        connectionId,
        jobId: job.id,
        status: job.status,
        attempts: job.attempts,
        completedEvents,
        failedEvents,
        what,
      });
    if (job.status === 'succeeded') {
      report.syncs.succeeded += 1;
      if (completedEvents === 0) finding('succeeded without sync.completed');
      if (failedEvents > 0) finding('sync.failed for attempts that were retried');
    } else if (job.status === 'failed') {
      report.syncs.failed += 1;
      if (failedEvents !== 1) finding(`failed for good with ${failedEvents} sync.failed events`);
    } else if (active && (job.status === 'queued' || job.status === 'running')) {
      report.syncs.unfinished += 1;
      finding(`still ${job.status} after the final runs`);
    }
  }
}

/** The report as Markdown lines (the `npm run chaos` output and docs/chaos.md). */
export function formatReport(r: ChaosReport): string {
  const counts = (c: Record<string, number>) =>
    Object.entries(c)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none';
  const list = (items: string[], max = 10) =>
    items.length === 0
      ? '0'
      : `${items.length} (${items.slice(0, max).join('; ')}${items.length > max ? '; …' : ''})`;
  const c = r.connections;
  return [
    `seed ${r.seed}, ${(r.durationMs / 1000).toFixed(0)} s`,
    '',
    `- faults injected: ${r.faults.injected} (${counts(r.faults.byKind)})`,
    `- processes killed: ${r.kills.total} (${counts(r.kills.byKind)})`,
    `- actions: ${counts(r.actions)}`,
    `- connects: ${r.connects.attempted} attempted, ${r.connects.connected} connected, ${r.connects.failedUnderFault} failed under a fault, ${r.connects.failedWithoutFault.length} failed with every fault lifted${r.connects.failedWithoutFault.map((f) => `\n  - ${f}`).join('')}`,
    `- refreshes: ${r.refreshes.attempted} attempted, ${r.refreshes.succeeded} succeeded, failed: ${counts(r.refreshes.failed)}`,
    `- proxied reads: ${r.proxy.calls} (status ${counts(r.proxy.byStatus)}), ${r.proxy.hung} without an answer`,
    `- connections: ${c.total}; final states: ${counts(c.states)}; states reached: ${c.statesSeen.join(', ')}`,
    `- connections lost (given up while the EHR still honours the grant): ${c.lost.length}${c.lost.map((l) => `\n  - ${l.connectionId}: ${l.state} (${l.reason ?? 'no reason'}), token answer lost before: ${l.answerLost ? 'yes' : 'no'}`).join('')}`,
    `- refresh answers lost after the EHR rotated: ${c.answerLost}; ended reauthorization_required: ${c.reauthorizedAfterLostAnswer}`,
    `- revoked by the patient (control): ${c.revokedByPatient}`,
    `- resources: ${r.resources.connectionsCompared} connections compared, ${r.resources.expected} expected, ${r.resources.stored} stored; lost ${list(r.resources.lost)}; doubled ${list(r.resources.doubled)}; differing ${list(r.resources.differing)}; extra ${list(r.resources.extra)}`,
    ...(r.resources.differingSample
      ? [`  - first difference: ${r.resources.differingSample}`]
      : []),
    `- syncs: ${r.syncs.jobs} jobs, ${r.syncs.succeeded} succeeded, ${r.syncs.failed} failed, ${r.syncs.unfinished} unfinished; runs: ${counts(r.syncs.runs)}; events: ${counts(r.syncs.events)}`,
    `- sync findings: ${r.syncs.findings.length}${r.syncs.findings.map((f) => `\n  - ${f.connectionId} ${f.jobId} (${f.status}, ${f.attempts} attempts, ${f.completedEvents} completed / ${f.failedEvents} failed events): ${f.what}`).join('')}`,
  ].join('\n');
}
