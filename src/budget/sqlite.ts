// The embedded default: every process on the machine (server, CLI sync, a second server) draws
// from one budget per practice kept in the SQLite file. Each step is one BEGIN IMMEDIATE
// transaction, so two processes never grant from the same count; the rules are grant.ts's.
import Sqlite, { type Database } from 'better-sqlite3';
import {
  blockedUntilOf,
  giveBackLanded,
  grantInOrder,
  type Lane,
  newWindowState,
  type QueuedWaiter,
  recordRateLimited,
  releaseLeased,
  rollForward,
  usageOf,
  type WindowState,
  wakeAtOf,
} from './grant.ts';
import { type Budget, type BudgetPolicy, PRIORITIES, type Priority } from './port.ts';
import {
  type BudgetStore,
  createSharedBudget,
  OWNER_STALE_MS,
  type SharedBudgetDeps,
  type StepInput,
  type StepOutput,
} from './shared.ts';

/**
 * The budget's own tables, beside the store's in the same file. They hold counts and queue
 * places only, nothing worth migrating: created when missing.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS budget_practices (
  practice TEXT PRIMARY KEY,
  window INTEGER NOT NULL,
  used INTEGER NOT NULL,
  early INTEGER NOT NULL,
  carried INTEGER NOT NULL DEFAULT 0,
  locked_until INTEGER,
  lock_reason TEXT,
  rate_limited INTEGER NOT NULL,
  priority_used INTEGER NOT NULL,
  priority_last INTEGER NOT NULL,
  seq INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS budget_owners (
  owner TEXT PRIMARY KEY,
  seen_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS budget_waiters (
  id TEXT PRIMARY KEY,
  practice TEXT NOT NULL,
  owner TEXT NOT NULL,
  priority TEXT NOT NULL,
  lane TEXT NOT NULL,
  cost INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  granted INTEGER NOT NULL DEFAULT 0,
  granted_at INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS budget_waiters_by_practice ON budget_waiters (practice, granted);
CREATE INDEX IF NOT EXISTS budget_waiters_by_owner ON budget_waiters (owner);
CREATE TABLE IF NOT EXISTS budget_lanes (
  practice TEXT NOT NULL,
  priority TEXT NOT NULL,
  lane TEXT NOT NULL,
  pos INTEGER NOT NULL,
  PRIMARY KEY (practice, priority, lane)
) STRICT;
`;

/** Columns added after the tables were first made: added to a file whose tables lack them. */
const ADDED_COLUMNS = [
  { table: 'budget_practices', column: 'carried', type: 'INTEGER NOT NULL DEFAULT 0' },
  { table: 'budget_waiters', column: 'granted_at', type: 'INTEGER' },
] as const;

function addMissingColumns(db: Database): void {
  const has = db.prepare<[string, string], { name: string }>(
    'SELECT name FROM pragma_table_info(?) WHERE name = ?',
  );
  // One write transaction: two processes opening the file at once add each column once.
  db.transaction(() => {
    for (const { table, column, type } of ADDED_COLUMNS) {
      if (!has.get(table, column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
    }
  }).immediate();
}

interface PracticeRow {
  window: number;
  used: number;
  early: number;
  carried: number;
  locked_until: number | null;
  lock_reason: string | null;
  rate_limited: number;
  priority_used: number;
  priority_last: number;
  seq: number;
}

interface WaiterRow {
  id: string;
  owner: string;
  priority: Priority;
  lane: string;
  cost: number;
  seq: number;
}

export interface SqliteBudgetStoreOptions {
  /** The SQLite file (the store's own), shared by every process on the machine. */
  path: string;
  policy: BudgetPolicy;
  /** How long a step waits for another process's transaction (ms). */
  busyTimeoutMs?: number;
}

export function openSqliteBudgetStore({
  path,
  policy,
  busyTimeoutMs = 5_000,
}: SqliteBudgetStoreOptions): BudgetStore {
  const db: Database = new Sqlite(path);
  db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  db.pragma('journal_mode = WAL');
  // A budget count lost to a power cut costs at most one window's calls counted again.
  db.pragma('synchronous = NORMAL');
  db.exec(SCHEMA);
  addMissingColumns(db);

  const q = {
    practice: db.prepare<[string], PracticeRow>(
      'SELECT * FROM budget_practices WHERE practice = ?',
    ),
    allPractices: db.prepare<[], PracticeRow & { practice: string }>(
      'SELECT * FROM budget_practices ORDER BY practice',
    ),
    savePractice: db.prepare(
      `INSERT INTO budget_practices (practice, window, used, early, carried, locked_until,
         lock_reason, rate_limited, priority_used, priority_last, seq)
       VALUES (@practice, @window, @used, @early, @carried, @lockedUntil, @lockReason,
         @rateLimited, @priorityUsed, @priorityLast, @seq)
       ON CONFLICT (practice) DO UPDATE SET window = excluded.window, used = excluded.used,
         early = excluded.early, carried = excluded.carried, locked_until = excluded.locked_until,
         lock_reason = excluded.lock_reason, rate_limited = excluded.rate_limited,
         priority_used = excluded.priority_used, priority_last = excluded.priority_last,
         seq = excluded.seq`,
    ),
    seen: db.prepare(
      `INSERT INTO budget_owners (owner, seen_at) VALUES (?, ?)
       ON CONFLICT (owner) DO UPDATE SET seen_at = excluded.seen_at`,
    ),
    dropStaleWaiters: db.prepare(
      'DELETE FROM budget_waiters WHERE owner IN (SELECT owner FROM budget_owners WHERE seen_at < ?)',
    ),
    dropStaleOwners: db.prepare('DELETE FROM budget_owners WHERE seen_at < ?'),
    addWaiter: db.prepare(
      `INSERT OR IGNORE INTO budget_waiters (id, practice, owner, priority, lane, cost, seq)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    queued: db.prepare<[string], WaiterRow>(
      'SELECT id, owner, priority, lane, cost, seq FROM budget_waiters WHERE practice = ? AND granted = 0 ORDER BY seq',
    ),
    lanes: db.prepare<[string], { priority: Priority; lane: string; pos: number }>(
      'SELECT priority, lane, pos FROM budget_lanes WHERE practice = ?',
    ),
    addLane: db.prepare(
      'INSERT OR IGNORE INTO budget_lanes (practice, priority, lane, pos) VALUES (?, ?, ?, ?)',
    ),
    moveLane: db.prepare(
      'UPDATE budget_lanes SET pos = ? WHERE practice = ? AND priority = ? AND lane = ?',
    ),
    dropLane: db.prepare(
      'DELETE FROM budget_lanes WHERE practice = ? AND priority = ? AND lane = ?',
    ),
    grant: db.prepare('UPDATE budget_waiters SET granted = 1, granted_at = ? WHERE id = ?'),
    remove: db.prepare('DELETE FROM budget_waiters WHERE id = ? AND owner = ? AND granted = 0'),
    mineGranted: db.prepare<[string, string], { id: string; granted_at: number | null }>(
      'SELECT id, granted_at FROM budget_waiters WHERE practice = ? AND owner = ? AND granted = 1',
    ),
    dropMineGranted: db.prepare(
      'DELETE FROM budget_waiters WHERE practice = ? AND owner = ? AND granted = 1',
    ),
    waitingAll: db.prepare<[], { practice: string; priority: Priority; n: number }>(
      'SELECT practice, priority, COUNT(*) AS n FROM budget_waiters WHERE granted = 0 GROUP BY practice, priority',
    ),
  };

  const stateOf = (row: PracticeRow): WindowState => ({
    window: row.window,
    used: row.used,
    early: row.early,
    carried: row.carried,
    lockedUntil: row.locked_until,
    lockReason: row.lock_reason,
    rateLimited: row.rate_limited,
    priorityUsed: row.priority_used,
    priorityLast: row.priority_last,
    seq: row.seq,
  });

  const step = db.transaction((input: StepInput): StepOutput => {
    const { practice, owner, now } = input;
    const row = q.practice.get(practice);
    const release = input.release ?? [];
    const writes =
      input.add.length +
        input.remove.length +
        input.rateLimited.length +
        release.length +
        (input.landed?.length ?? 0) >
      0;
    const state = row ? stateOf(row) : newWindowState(policy, now);
    rollForward(state, policy, now);
    releaseLeased(state, release);
    giveBackLanded(state, input.landed ?? []);
    for (const { retryAfterMs } of input.rateLimited) {
      recordRateLimited(state, policy, now, retryAfterMs);
    }
    q.seen.run(owner, now);
    q.dropStaleWaiters.run(now - OWNER_STALE_MS);
    q.dropStaleOwners.run(now - OWNER_STALE_MS);
    for (const waiter of input.add) {
      const added = q.addWaiter.run(
        waiter.id,
        practice,
        owner,
        waiter.priority,
        waiter.lane,
        waiter.cost,
        ++state.seq,
      );
      if (added.changes > 0) q.addLane.run(practice, waiter.priority, waiter.lane, ++state.seq);
    }

    const queued = q.queued.all(practice);
    const lanes = new Map<string, Lane>();
    for (const lane of q.lanes.all(practice)) {
      lanes.set(`${lane.priority}\n${lane.lane}`, { ...lane, waiters: [] });
    }
    const owners = new Map<string, string>();
    for (const w of queued) {
      owners.set(w.id, w.owner);
      const key = `${w.priority}\n${w.lane}`;
      let lane = lanes.get(key);
      if (!lane) {
        // A lane lost with a stale owner's waiters while others remained: back of the ring.
        lane = { priority: w.priority, lane: w.lane, pos: ++state.seq, waiters: [] };
        lanes.set(key, lane);
        q.addLane.run(practice, w.priority, w.lane, lane.pos);
      }
      lane.waiters.push(w as QueuedWaiter);
    }
    const before = new Map([...lanes].map(([key, lane]) => [key, lane.pos]));
    // Granted on this owner's behalf by other processes' steps, then by this one, in order.
    const mine = q.mineGranted
      .all(practice, owner)
      .map((r) => ({ id: r.id, grantedAt: r.granted_at ?? now }));
    const grantAll = () => {
      const outcome = grantInOrder(state, policy, practice, [...lanes.values()], now);
      for (const waiter of outcome.granted) {
        q.grant.run(now, waiter.id);
        if (owners.get(waiter.id) === owner) mine.push({ id: waiter.id, grantedAt: now });
      }
      return outcome.head;
    };
    let head = grantAll();
    const removedIds = new Set<string>();
    for (const id of input.remove) {
      if (q.remove.run(id, owner).changes > 0) removedIds.add(id);
    }
    if (removedIds.size > 0) {
      for (const lane of lanes.values()) {
        lane.waiters = lane.waiters.filter((w) => !removedIds.has(w.id));
      }
      // A blocked head that gave up may have been all that held the next ones back.
      head = grantAll();
    }
    for (const [key, lane] of lanes) {
      if (lane.waiters.length === 0) q.dropLane.run(practice, lane.priority, lane.lane);
      else if (before.get(key) !== lane.pos)
        q.moveLane.run(lane.pos, practice, lane.priority, lane.lane);
    }

    q.dropMineGranted.run(practice, owner);
    if (row || writes) q.savePractice.run({ practice, ...state });

    const waiting = { interactive: 0, refresh: 0, background: 0 };
    let queuedMine = 0;
    for (const lane of lanes.values()) {
      for (const waiter of lane.waiters) {
        waiting[waiter.priority] += 1;
        if (owners.get(waiter.id) === owner) queuedMine += 1;
      }
    }
    return {
      granted: mine,
      removed: [...removedIds],
      queued: queuedMine,
      usage: usageOf(policy, practice, state, waiting),
      wakeAt: wakeAtOf(state, policy, practice, head, now),
      blockedUntil: queuedMine > 0 ? blockedUntilOf(state, policy, practice) : null,
    };
  });

  return {
    async step(input) {
      // BEGIN IMMEDIATE: take the write lock first, so two processes' steps never interleave
      // (a deferred transaction that upgrades from read to write may fail with SQLITE_BUSY).
      return step.immediate(input);
    },
    async usageAll(now) {
      const waiting = new Map<string, Record<Priority, number>>();
      for (const { practice, priority, n } of q.waitingAll.all()) {
        const counts =
          waiting.get(practice) ??
          (Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>);
        counts[priority] = n;
        waiting.set(practice, counts);
      }
      return q.allPractices.all().map((row) => {
        const state = stateOf(row);
        rollForward(state, policy, now);
        return usageOf(
          policy,
          row.practice,
          state,
          waiting.get(row.practice) ?? { interactive: 0, refresh: 0, background: 0 },
        );
      });
    },
    async close() {
      db.close();
    },
  };
}

export interface SqliteBudgetDeps extends Omit<SharedBudgetDeps, 'store'> {
  path: string;
}

/** The budget every process on this machine shares through the SQLite file at `path`. */
export function createSqliteBudget({
  path,
  ...deps
}: SqliteBudgetDeps): Budget & { settled(): Promise<void> } {
  return createSharedBudget({
    ...deps,
    store: openSqliteBudgetStore({ path, policy: deps.policy }),
  });
}
