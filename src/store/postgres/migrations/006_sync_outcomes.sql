-- Sync outcomes: how a run ended for people and programs, what a practice refused (remembered
-- so later syncs go straight to what works), and failures of jobs whose runner died on its last
-- attempt, held until they are announced. Times are BIGINT epoch milliseconds.

-- `status` says whether the run still runs; `outcome` how a finished one ended.
ALTER TABLE sync_runs ADD COLUMN outcome TEXT
  CHECK (outcome IN ('succeeded', 'partial', 'failed', 'nothing_granted'));

-- Queries a practice answered with a 400 OperationOutcome ("not supported here"), per practice
-- base: `query` names what was refused (`_lastUpdated`, `Patient?_id`, or a search key).
CREATE TABLE sync_refusals (
  practice_base  TEXT NOT NULL,
  query          TEXT COLLATE "C" NOT NULL,
  -- The server's diagnostics, for people (never a secret: it quotes parameter names only).
  reason         TEXT NOT NULL,
  refused_at     BIGINT NOT NULL,
  -- Asked again after this instant: a practice may start supporting it.
  expires_at     BIGINT NOT NULL,
  PRIMARY KEY (practice_base, query)
);

-- Set when a job is failed because its runner's lease lapsed on the last attempt; cleared by
-- the process that announces the failure (exactly once).
ALTER TABLE jobs ADD COLUMN failure_notice TEXT;
