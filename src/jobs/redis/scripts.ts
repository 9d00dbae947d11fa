// The Lua scripts behind the Redis job repository. Each is one atomic step on the server, so any
// number of processes share the queue: a claim is a compare-and-set, a lapsed lease is claimable.
//
// Layout under the prefix P (one hash-tagged slot): P..'job:'..id a hash per job (absent fields
// are null; payload, progress and result are JSON text the scripts never parse, so that empty
// arrays survive), P..'queued' a sorted set by runAt, P..'running' by leaseUntil, P..'keys' the
// active job of each unique key, P..'created' every job by createdAt (members prefixed with an
// insertion sequence so that ties keep their order), P..'conn:'..id the same per connection,
// and P..'lapsed' the jobs failed for a lapsed lease that no process has announced yet.
//
// Instants arrive as decimal strings and are written back as received: Lua's tostring would
// print a millisecond epoch in exponent form.

const PRELUDE = `
local P = KEYS[1]
local function jk(id) return P .. 'job:' .. id end
local function free_key(key, id)
  if key and redis.call('HGET', P .. 'keys', key) == id then
    redis.call('HDEL', P .. 'keys', key)
  end
end
-- A runner whose lease lapsed after its last allowed attempt: the job keeps killing its process,
-- so it ends instead of looping forever, and waits in 'lapsed' to be announced once.
local function fail_exhausted(now)
  local lapsed = redis.call('ZRANGEBYSCORE', P .. 'running', '-inf', '(' .. now)
  for _, id in ipairs(lapsed) do
    local f = redis.call('HMGET', jk(id), 'attempts', 'maxAttempts', 'key')
    if tonumber(f[1]) >= tonumber(f[2]) then
      redis.call('HSET', jk(id), 'status', 'failed', 'finishedAt', now, 'updatedAt', now,
        'lastError', 'its runner stopped without finishing (lease lapsed) on the last attempt')
      redis.call('HDEL', jk(id), 'leaseOwner', 'leaseUntil')
      redis.call('ZREM', P .. 'running', id)
      free_key(f[3], id)
      redis.call('RPUSH', P .. 'lapsed', id)
    end
  end
end
`;

/** ARGV: id, key ('' = none), runAt, payload, updatedAt, createdAt, status, connectionId ('' =
 * none), leaseUntil ('' = none), then the job's hash as field/value pairs. Returns {created, hash}. */
export const INSERT_UNIQUE = `${PRELUDE}
local id, key, runAt, payload, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local createdAt, status, connectionId, leaseUntil = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
if key ~= '' then
  local active = redis.call('HGET', P .. 'keys', key)
  if active then
    -- An on-demand request overtakes a scheduled one: sooner runAt, its payload.
    if redis.call('HGET', jk(active), 'status') == 'queued' then
      local current = redis.call('HGET', jk(active), 'runAt')
      if tonumber(runAt) < tonumber(current) then
        redis.call('HSET', jk(active), 'runAt', runAt)
        redis.call('ZADD', P .. 'queued', runAt, active)
      end
      redis.call('HSET', jk(active), 'payload', payload, 'updatedAt', now)
    end
    return {0, redis.call('HGETALL', jk(active))}
  end
end
if redis.call('EXISTS', jk(id)) == 1 then return {-1, {}} end
local fields = {}
for i = 10, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', jk(id), unpack(fields))
local seq = string.format('%016d', redis.call('INCR', P .. 'seq'))
redis.call('ZADD', P .. 'created', createdAt, seq .. ':' .. id)
if connectionId ~= '' then
  redis.call('ZADD', P .. 'conn:' .. connectionId, createdAt, seq .. ':' .. id)
end
if status == 'queued' then redis.call('ZADD', P .. 'queued', runAt, id) end
if status == 'running' and leaseUntil ~= '' then redis.call('ZADD', P .. 'running', leaseUntil, id) end
if key ~= '' and (status == 'queued' or status == 'running') then
  redis.call('HSET', P .. 'keys', key, id)
end
return {1, redis.call('HGETALL', jk(id))}
`;

/** ARGV: owner, now, leaseUntil, jobId ('' = any), kinds (JSON array, '' = any). Returns the
 * claimed job's hash, or an empty list. The oldest due job wins: by runAt, then createdAt. */
export const CLAIM = `${PRELUDE}
local owner, now, leaseUntil, jobId, kindsJson = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
fail_exhausted(now)
local kinds = nil
if kindsJson ~= '' then
  kinds = {}
  for _, k in ipairs(cjson.decode(kindsJson)) do kinds[k] = true end
end
local n = tonumber(now)
local best, bestRun, bestCreated = nil, nil, nil
local function consider(id)
  local f = redis.call('HMGET', jk(id), 'status', 'runAt', 'leaseUntil', 'createdAt', 'kind')
  local due = (f[1] == 'queued' and tonumber(f[2]) <= n)
    or (f[1] == 'running' and f[3] and tonumber(f[3]) < n)
  if not due then return end
  if kinds and not kinds[f[5]] then return end
  local r, c = tonumber(f[2]), tonumber(f[4])
  if best == nil or r < bestRun or (r == bestRun and c < bestCreated) then
    best, bestRun, bestCreated = id, r, c
  end
end
if jobId ~= '' then
  consider(jobId)
else
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'queued', '-inf', now, 'LIMIT', 0, 500)) do
    consider(id)
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'running', '-inf', '(' .. now)) do
    consider(id)
  end
end
if best == nil then return {} end
redis.call('HSET', jk(best), 'status', 'running', 'leaseOwner', owner, 'leaseUntil', leaseUntil,
  'startedAt', now, 'updatedAt', now)
redis.call('HINCRBY', jk(best), 'attempts', 1)
redis.call('ZREM', P .. 'queued', best)
redis.call('ZADD', P .. 'running', leaseUntil, best)
return redis.call('HGETALL', jk(best))
`;

/** ARGV: id, owner, leaseUntil, now, progress ('' = keep). Returns 1 while `owner` holds it. */
export const HEARTBEAT = `${PRELUDE}
local id, owner, leaseUntil, now, progress = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local f = redis.call('HMGET', jk(id), 'status', 'leaseOwner')
if f[1] ~= 'running' or f[2] ~= owner then return 0 end
redis.call('HSET', jk(id), 'leaseUntil', leaseUntil, 'updatedAt', now)
if progress ~= '' then redis.call('HSET', jk(id), 'progress', progress) end
redis.call('ZADD', P .. 'running', leaseUntil, id)
return 1
`;

/** ARGV: id, owner, status, now, result ('' = null), error ('' = null). Returns 1 when ended. */
export const FINISH = `${PRELUDE}
local id, owner, status, now, result, err = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local f = redis.call('HMGET', jk(id), 'status', 'leaseOwner', 'key')
if f[1] ~= 'running' or f[2] ~= owner then return 0 end
redis.call('HSET', jk(id), 'status', status, 'finishedAt', now, 'updatedAt', now)
redis.call('HDEL', jk(id), 'leaseOwner', 'leaseUntil', 'result', 'lastError')
if result ~= '' then redis.call('HSET', jk(id), 'result', result) end
if err ~= '' then redis.call('HSET', jk(id), 'lastError', err) end
redis.call('ZREM', P .. 'running', id)
free_key(f[3], id)
return 1
`;

/** ARGV: id, owner, runAt, now, error ('' = keep), refund ('1' uncounts the claim). */
export const REQUEUE = `${PRELUDE}
local id, owner, runAt, now, err, refund = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local f = redis.call('HMGET', jk(id), 'status', 'leaseOwner', 'attempts')
if f[1] ~= 'running' or f[2] ~= owner then return 0 end
redis.call('HSET', jk(id), 'status', 'queued', 'runAt', runAt, 'updatedAt', now)
redis.call('HDEL', jk(id), 'leaseOwner', 'leaseUntil')
if err ~= '' then redis.call('HSET', jk(id), 'lastError', err) end
if refund == '1' and tonumber(f[3]) > 0 then redis.call('HINCRBY', jk(id), 'attempts', -1) end
redis.call('ZREM', P .. 'running', id)
redis.call('ZADD', P .. 'queued', runAt, id)
return 1
`;

/** ARGV: id, now. Returns 1 when a queued job was cancelled. */
export const CANCEL = `${PRELUDE}
local id, now = ARGV[1], ARGV[2]
local f = redis.call('HMGET', jk(id), 'status', 'key')
if f[1] ~= 'queued' then return 0 end
redis.call('HSET', jk(id), 'status', 'cancelled', 'finishedAt', now, 'updatedAt', now)
redis.call('ZREM', P .. 'queued', id)
free_key(f[2], id)
return 1
`;

/** ARGV: now. Fails the exhausted lapsed jobs, then hands out (and forgets) every one not yet
 * taken, as a list of hashes. */
export const TAKE_LAPSED = `${PRELUDE}
fail_exhausted(ARGV[1])
local ids = redis.call('LRANGE', P .. 'lapsed', 0, -1)
redis.call('DEL', P .. 'lapsed')
local out = {}
for _, id in ipairs(ids) do out[#out + 1] = redis.call('HGETALL', jk(id)) end
return out
`;
