-- The job queue of the in-process adapter: one row per job, kept after it ends for its history
-- (the API shows a connection's latest sync from here). Times are BIGINT epoch milliseconds.

-- `seq` orders jobs created in the same millisecond by insertion (SQLite's rowid).
CREATE TABLE jobs (
  seq            BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
  id             TEXT COLLATE "C" PRIMARY KEY,
  kind           TEXT NOT NULL,
  -- At most one queued or running job per key (e.g. `sync:<connection id>`): see jobs_active_key.
  key            TEXT,
  connection_id  TEXT,
  payload        TEXT NOT NULL,
  status         TEXT NOT NULL
                 CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  attempts       BIGINT NOT NULL,
  max_attempts   BIGINT NOT NULL,
  -- Not claimed before this instant (scheduled runs, retry backoff).
  run_at         BIGINT NOT NULL,
  -- Who runs it and until when: a lease that lapses (its process died) lets another claim it.
  lease_owner    TEXT,
  lease_until    BIGINT,
  progress       TEXT,
  result         TEXT,
  last_error     TEXT,
  created_at     BIGINT NOT NULL,
  updated_at     BIGINT NOT NULL,
  started_at     BIGINT,
  finished_at    BIGINT
);

-- One sync at a time per connection: a second enqueue finds the active one instead.
CREATE UNIQUE INDEX jobs_active_key ON jobs (key) WHERE status IN ('queued', 'running');
-- The claim scan: queued jobs by due time, running ones by lease end.
CREATE INDEX jobs_claimable ON jobs (status, run_at);
CREATE INDEX jobs_by_lease ON jobs (status, lease_until);
CREATE INDEX jobs_by_connection ON jobs (connection_id, kind, created_at);
