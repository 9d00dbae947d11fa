// Scale-out: one budget per practice in Redis, shared by every process on every machine. Each
// step is one Lua script, which Redis runs atomically: the same rules as grant.ts (clock-aligned
// windows, the guard carried into the next window and given back when a call landed early, the 429 lock, priority, round-robin between
// connections, the reserve), so a call is never granted twice from one count.
import { Redis } from 'ioredis';
import {
  blockedUntilOf,
  newWindowState,
  rollForward,
  usageOf,
  type WindowState,
  wakeAtOf,
} from './grant.ts';
import { patienceOf, RESERVE_GROWTH } from './policy.ts';
import type { Budget, BudgetPolicy, Priority } from './port.ts';
import {
  type BudgetStore,
  createSharedBudget,
  OWNER_STALE_MS,
  type SharedBudgetDeps,
  type StepOutput,
} from './shared.ts';

/**
 * KEYS: none (every key is under ARGV[1], the prefix and practice, so one practice's keys share
 * a hash slot: `{prefix:practice}`). ARGV: prefix, practice, owner, now, limit, windowMs, guardMs,
 * reserve share's base, growth, patienceMs (policy.ts unkeptOf mirrored), staleMs, adds, removes, 429s, releases,
 * landings (JSON). A granted waiter is kept as `owner|grantedAt` until its owner collects it.
 */
const STEP = `
local base, practice, owner = ARGV[1], ARGV[2], ARGV[3]
local now, limit, windowMs, guardMs = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local reserveBase, growth, patience, staleMs = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local adds, removes, limited = cjson.decode(ARGV[12]), cjson.decode(ARGV[13]), cjson.decode(ARGV[14])
local releases, landings = cjson.decode(ARGV[15]), cjson.decode(ARGV[16])
local P = base .. 'budget:{' .. practice .. '}:'
local stateKey, waitersKey, grantedKey = P .. 'state', P .. 'waiters', P .. 'granted'
local ownersKey, practicesKey = base .. 'budget:owners', base .. 'budget:practices'
local PRIORITIES = { 'interactive', 'refresh', 'background' }
local function lanesKey(p) return P .. 'lanes:' .. p end
local function laneKey(p, lane) return P .. 'lane:' .. p .. ':' .. lane end

local raw = redis.call('HGETALL', stateKey)
local exists = #raw > 0
local s = { window = math.floor(now / windowMs), used = 0, early = 0, carried = 0, lockedUntil = -1, lockReason = '',
  rateLimited = 0, priorityUsed = 0, priorityLast = 0, seq = 0 }
for i = 1, #raw, 2 do
  local k, v = raw[i], raw[i + 1]
  if k == 'lockReason' then s[k] = v else s[k] = tonumber(v) end
end

-- The window and the lock, forward to now.
local window = math.floor(now / windowMs)
if window > s.window then
  if window == s.window + 1 then s.used = s.early; s.priorityLast = s.priorityUsed
  else s.used = 0; s.priorityLast = 0 end
  s.carried = s.used; s.early = 0; s.priorityUsed = 0; s.window = window
end
if s.lockedUntil >= 0 and now >= s.lockedUntil then s.lockedUntil = -1; s.lockReason = '' end
local function giveBackLanded(l)
  if l.window == s.window then s.early = math.max(0, s.early - l.cost)
  elseif l.window == s.window - 1 then
    local back = math.min(l.cost, s.carried)
    s.carried = s.carried - back
    s.used = math.max(0, s.used - back)
  end
end
-- Calls granted and never sent leave the count of their window, and a guard call's carry
-- (grant.ts releaseLeased).
for _, r in ipairs(releases) do
  if r.guard then giveBackLanded(r) end
  if r.window == s.window then
    s.used = math.max(0, s.used - r.cost)
    if r.priority ~= 'background' then s.priorityUsed = math.max(0, s.priorityUsed - r.cost) end
  end
end
-- Guard calls that arrived in their own window: the next one need not keep them (grant.ts giveBackLanded).
for _, l in ipairs(landings) do giveBackLanded(l) end
for _, l in ipairs(limited) do
  local windowEnd = (s.window + 1) * windowMs
  local honoured = l.retryAfterMs ~= nil and l.retryAfterMs > 0
  local untilAt = windowEnd
  if honoured and now + l.retryAfterMs > untilAt then untilAt = now + l.retryAfterMs end
  s.rateLimited = s.rateLimited + 1
  if s.lockedUntil < 0 or untilAt >= s.lockedUntil then
    s.lockedUntil = untilAt
    if honoured then s.lockReason = 'retry:' .. tostring(math.ceil(l.retryAfterMs / 1000)) .. ':' .. tostring(now)
    else s.lockReason = 'window:' .. tostring(now) end
  end
end

redis.call('HSET', ownersKey, owner, now)
redis.call('PEXPIRE', ownersKey, 86400000)
local seen = {}
local function alive(o)
  if seen[o] == nil then
    local at = tonumber(redis.call('HGET', ownersKey, o) or '0')
    seen[o] = at >= now - staleMs
  end
  return seen[o]
end

local function grantOwner(v) return string.match(v, '^[^|]*') end
local function grantedAt(v) return tonumber(string.match(v, '|(%d+)$') or now) end

local function dropWaiter(id, w)
  redis.call('HDEL', waitersKey, id)
  local lk = laneKey(w[2], w[3])
  redis.call('ZREM', lk, id)
  if redis.call('ZCARD', lk) == 0 then redis.call('ZREM', lanesKey(w[2]), w[3]) end
end

-- Waiters of owners silent too long leave the queue, and their grants are forgotten.
local all = redis.call('HGETALL', waitersKey)
for i = 1, #all, 2 do
  local w = cjson.decode(all[i + 1])
  if not alive(w[1]) then dropWaiter(all[i], w) end
end
local granted = redis.call('HGETALL', grantedKey)
for i = 1, #granted, 2 do
  if not alive(grantOwner(granted[i + 1])) then redis.call('HDEL', grantedKey, granted[i]) end
end

for _, a in ipairs(adds) do
  if redis.call('HEXISTS', waitersKey, a.id) == 0 and redis.call('HEXISTS', grantedKey, a.id) == 0 then
    s.seq = s.seq + 1
    redis.call('HSET', waitersKey, a.id, cjson.encode({ owner, a.priority, a.lane, a.cost, s.seq }))
    redis.call('ZADD', laneKey(a.priority, a.lane), s.seq, a.id)
    redis.call('PEXPIRE', laneKey(a.priority, a.lane), 86400000)
    if redis.call('ZSCORE', lanesKey(a.priority), a.lane) == false then
      s.seq = s.seq + 1
      redis.call('ZADD', lanesKey(a.priority), s.seq, a.lane)
      redis.call('PEXPIRE', lanesKey(a.priority), 86400000)
    end
  end
end

local function headroom(t)
  local reserve = 0
  if reserveBase > 0 then
    reserve = math.min(limit, math.max(reserveBase, math.ceil(growth * s.priorityLast)))
  end
  local left = s.window * windowMs + windowMs - t
  if reserve == 0 or left <= 0 then return 0 end
  local ms = math.min(left, windowMs)
  local unkept = patience
  if guardMs > 0 then
    local margin = 1
    if guardMs > patience then margin = patience end
    unkept = math.max(patience, guardMs + margin)
  end
  local e = reserve * math.max(0, ms - unkept) / windowMs
  return math.min(reserve, math.ceil(e + math.sqrt(e)))
end

local mine = {}
for i = 1, #granted, 2 do
  if grantOwner(granted[i + 1]) == owner then
    table.insert(mine, { id = granted[i], grantedAt = grantedAt(granted[i + 1]) })
  end
end
local head = nil
local function grantAll()
  head = nil
  if s.lockedUntil >= 0 then
    for _, p in ipairs(PRIORITIES) do
      local lane = redis.call('ZRANGE', lanesKey(p), 0, 0)[1]
      if lane then
        local id = redis.call('ZRANGE', laneKey(p, lane), 0, 0)[1]
        head = cjson.decode(redis.call('HGET', waitersKey, id))
        return
      end
    end
    return
  end
  local inGuard = now >= (s.window + 1) * windowMs - guardMs
  while true do
    local found = nil
    for _, p in ipairs(PRIORITIES) do
      local lane = redis.call('ZRANGE', lanesKey(p), 0, 0)[1]
      if lane then
        local id = redis.call('ZRANGE', laneKey(p, lane), 0, 0)[1]
        found = { id = id, lane = lane, priority = p, w = cjson.decode(redis.call('HGET', waitersKey, id)) }
        break
      end
    end
    if not found then return end
    local cost = found.w[4]
    local fits = s.used + cost <= limit
    if fits and found.priority == 'background' then fits = s.used + cost <= limit - headroom(now) end
    if not fits then head = found.w; return end
    -- Served: out of its lane, the lane to the back of its ring (or gone when empty).
    redis.call('HDEL', waitersKey, found.id)
    redis.call('HSET', grantedKey, found.id, found.w[1] .. '|' .. tostring(now))
    local lk = laneKey(found.priority, found.lane)
    redis.call('ZREM', lk, found.id)
    s.seq = s.seq + 1
    if redis.call('ZCARD', lk) == 0 then redis.call('ZREM', lanesKey(found.priority), found.lane)
    else redis.call('ZADD', lanesKey(found.priority), s.seq, found.lane) end
    s.used = s.used + cost
    if inGuard then s.early = s.early + cost end
    if found.priority ~= 'background' then s.priorityUsed = s.priorityUsed + cost end
    if found.w[1] == owner then table.insert(mine, { id = found.id, grantedAt = now }) end
  end
end
grantAll()

local removed = {}
for _, id in ipairs(removes) do
  local v = redis.call('HGET', waitersKey, id)
  if v then
    local w = cjson.decode(v)
    if w[1] == owner then dropWaiter(id, w); table.insert(removed, id) end
  end
end
-- A blocked head that gave up may have been all that held the next ones back.
if #removed > 0 then grantAll() end
for _, m in ipairs(mine) do redis.call('HDEL', grantedKey, m.id) end

local waiting = { interactive = 0, refresh = 0, background = 0 }
local queued = 0
local rest = redis.call('HVALS', waitersKey)
for _, v in ipairs(rest) do
  local w = cjson.decode(v)
  waiting[w[2]] = waiting[w[2]] + 1
  if w[1] == owner then queued = queued + 1 end
end

local writes = #adds + #removes + #limited + #releases + #landings > 0
if exists or writes then
  redis.call('HSET', stateKey, 'window', s.window, 'used', s.used, 'early', s.early,
    'carried', s.carried, 'lockedUntil', s.lockedUntil, 'lockReason', s.lockReason, 'rateLimited', s.rateLimited,
    'priorityUsed', s.priorityUsed, 'priorityLast', s.priorityLast, 'seq', s.seq)
  redis.call('SADD', practicesKey, practice)
  -- A practice no process has touched for a day leaves nothing behind.
  for _, key in ipairs({ stateKey, waitersKey, grantedKey }) do redis.call('PEXPIRE', key, 86400000) end
end
local headOut = cjson.null
if head then headOut = { priority = head[2], cost = head[4] } end
return cjson.encode({ granted = mine, removed = removed, queued = queued, waiting = waiting,
  state = s, head = headOut })
`;

interface ScriptState {
  window: number;
  used: number;
  early: number;
  /** Absent from a state written before carried calls were given back. */
  carried?: number;
  lockedUntil: number;
  lockReason: string;
  rateLimited: number;
  priorityUsed: number;
  priorityLast: number;
  seq: number;
}

interface ScriptOutput {
  granted: Array<{ id: string; grantedAt: number }> | Record<string, never>;
  removed: string[] | Record<string, never>;
  queued: number;
  waiting: Record<Priority, number>;
  state: ScriptState;
  head: { priority: Priority; cost: number } | null;
}

/** Lua's cjson writes an empty table as `{}`: an empty list. */
const list = <T>(value: T[] | Record<string, never>): T[] => (Array.isArray(value) ? value : []);

/** The lock's reason travels compact (the script has no ISO dates); here it becomes words. */
function lockReasonOf(raw: string): string | null {
  const [kind, a, b] = raw.split(':');
  if (kind === 'retry') {
    return `upstream 429 at ${new Date(Number(b)).toISOString()} with Retry-After ${a} s`;
  }
  if (kind === 'window') {
    return `upstream 429 at ${new Date(Number(a)).toISOString()}: blocked until the window ends`;
  }
  return null;
}

function windowStateOf(s: ScriptState): WindowState {
  return {
    window: s.window,
    used: s.used,
    early: s.early,
    carried: s.carried ?? 0,
    lockedUntil: s.lockedUntil >= 0 ? s.lockedUntil : null,
    lockReason: s.lockedUntil >= 0 ? lockReasonOf(s.lockReason) : null,
    rateLimited: s.rateLimited,
    priorityUsed: s.priorityUsed,
    priorityLast: s.priorityLast,
    seq: s.seq,
  };
}

export interface RedisBudgetStoreOptions {
  /** `redis://` or `rediss://`. */
  url: string;
  policy: BudgetPolicy;
  /** Before every key, e.g. `fhirbridge:`; tests use one per run. */
  keyPrefix?: string;
}

type StepCommand = (...args: Array<string | number>) => Promise<string>;

export function openRedisBudgetStore({
  url,
  policy,
  keyPrefix = 'fhirbridge:',
}: RedisBudgetStoreOptions): BudgetStore {
  // Commands fail fast while Redis is away, so callers get budget_exhausted instead of hanging;
  // the client reconnects by itself and the next step goes through.
  const redis = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
  // A failure reaches the caller through the step it fails (as budget_exhausted); the client's
  // own error events add nothing but noise while it reconnects.
  redis.on('error', () => {});
  redis.defineCommand('fhirbridgeBudgetStep', { numberOfKeys: 0, lua: STEP });
  const step = (
    redis as unknown as { fhirbridgeBudgetStep: StepCommand }
  ).fhirbridgeBudgetStep.bind(redis);

  return {
    async step(input): Promise<StepOutput> {
      const { practice, now } = input;
      const limit = policy.limitFor(practice);
      const raw = await step(
        keyPrefix,
        practice,
        input.owner,
        now,
        limit,
        policy.windowMs,
        policy.guardMs,
        policy.reserveFor(practice),
        RESERVE_GROWTH,
        patienceOf(policy.windowMs),
        OWNER_STALE_MS,
        JSON.stringify(input.add),
        JSON.stringify(input.remove),
        JSON.stringify(input.rateLimited.map((r) => ({ retryAfterMs: r.retryAfterMs ?? 0 }))),
        // An empty list goes as `[]`, which cjson reads as a table like any other.
        JSON.stringify(input.release ?? []),
        JSON.stringify(input.landed ?? []),
      );
      const out = JSON.parse(raw) as ScriptOutput;
      const state = windowStateOf(out.state);
      return {
        granted: list(out.granted),
        removed: list(out.removed),
        queued: out.queued,
        usage: usageOf(policy, practice, state, out.waiting),
        wakeAt: wakeAtOf(state, policy, practice, out.head ?? undefined, now),
        blockedUntil: out.queued > 0 ? blockedUntilOf(state, policy, practice) : null,
      };
    },

    async usageAll(now) {
      const practices = (await redis.smembers(`${keyPrefix}budget:practices`)).sort();
      return Promise.all(
        practices.map(async (practice) => {
          const P = `${keyPrefix}budget:{${practice}}:`;
          const [raw, waiters] = await Promise.all([
            redis.hgetall(`${P}state`),
            redis.hvals(`${P}waiters`),
          ]);
          const state = newWindowState(policy, now);
          if (raw.window !== undefined) {
            Object.assign(
              state,
              windowStateOf({
                ...(Object.fromEntries(
                  Object.entries(raw).map(([k, v]) => [k, k === 'lockReason' ? v : Number(v)]),
                ) as unknown as ScriptState),
              }),
            );
          }
          rollForward(state, policy, now);
          const waiting: Record<Priority, number> = { interactive: 0, refresh: 0, background: 0 };
          for (const value of waiters) waiting[(JSON.parse(value) as [string, Priority])[1]] += 1;
          return usageOf(policy, practice, state, waiting);
        }),
      );
    },

    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

export interface RedisBudgetDeps extends Omit<SharedBudgetDeps, 'store'> {
  url: string;
  keyPrefix?: string;
}

/** The budget every process of a deployment shares through Redis. */
export function createRedisBudget({
  url,
  keyPrefix,
  ...deps
}: RedisBudgetDeps): Budget & { settled(): Promise<void> } {
  return createSharedBudget({
    ...deps,
    store: openRedisBudgetStore({
      url,
      policy: deps.policy,
      ...(keyPrefix === undefined ? {} : { keyPrefix }),
    }),
  });
}
