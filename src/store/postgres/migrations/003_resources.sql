-- The synced record: resources as the EHR sent them, the sync checkpoints per search, the
-- references still to read, and the sync runs. Times are BIGINT epoch milliseconds.

-- One row per (connection, type, id): an upsert never duplicates. `json` is the resource's text
-- as the server sent it (TEXT, not jsonb: jsonb would re-serialize it).
CREATE TABLE resources (
  connection_id    TEXT COLLATE "C" NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
  type             TEXT COLLATE "C" NOT NULL,
  id               TEXT COLLATE "C" NOT NULL,
  version_id       TEXT,
  -- meta.lastUpdated as sent (with its offset), and as epoch ms for `_lastUpdated` queries.
  last_updated     TEXT,
  last_updated_ms  BIGINT,
  -- The type's clinical date (Observation.effective[x]) as a range, for `date` queries.
  date_start       BIGINT,
  date_end         BIGINT,
  json             TEXT NOT NULL,
  -- Provenance: which practice, when, and which search (or `read`) brought this version.
  practice_base    TEXT NOT NULL,
  fetched_at       BIGINT NOT NULL,
  source           TEXT NOT NULL,
  -- The full pass that last saw it: a finished pass marks rows it did not see as deleted.
  sweep            TEXT,
  deleted_at       BIGINT,
  PRIMARY KEY (connection_id, type, id)
);

CREATE INDEX resources_by_last_updated ON resources (connection_id, type, last_updated_ms);
CREATE INDEX resources_by_sweep ON resources (connection_id, type, sweep);

-- Where each search of a connection stands: a crash resumes at `next_link`, a finished one
-- keeps the high-water mark of `_lastUpdated` for the next incremental pass.
CREATE TABLE sync_checkpoints (
  connection_id    TEXT COLLATE "C" NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
  search_key       TEXT COLLATE "C" NOT NULL,
  type             TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'skipped')),
  mode             TEXT NOT NULL CHECK (mode IN ('full', 'incremental')),
  -- The page to read next, relative to the practice base; null = the search's first page.
  next_link        TEXT,
  pages_done       BIGINT NOT NULL,
  resources_done   BIGINT NOT NULL,
  sweep            TEXT,
  -- The pass's marks for the next high-water mark (epoch ms), see src/sync/high-water.ts: the
  -- server's time at its first page, and the newest lastUpdated it has seen.
  pass_bound       BIGINT,
  seen_max         BIGINT,
  high_water       BIGINT,
  last_full_at     BIGINT,
  reason           TEXT,
  updated_at       BIGINT NOT NULL,
  PRIMARY KEY (connection_id, search_key)
);

-- Resources that other resources point at and that have no patient search (Practitioner,
-- Organization, Binary...): read once by reference, deduplicated by the key.
CREATE TABLE sync_references (
  connection_id    TEXT COLLATE "C" NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
  type             TEXT COLLATE "C" NOT NULL,
  id               TEXT COLLATE "C" NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'done', 'skipped')),
  -- What the referring attachment declared (Binary): checked before the read.
  content_type     TEXT,
  declared_size    BIGINT,
  reason           TEXT,
  updated_at       BIGINT NOT NULL,
  PRIMARY KEY (connection_id, type, id)
);

CREATE INDEX sync_references_pending ON sync_references (connection_id, status);

-- `seq` orders runs started in the same millisecond by insertion (SQLite's rowid).
CREATE TABLE sync_runs (
  seq              BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
  id               TEXT COLLATE "C" PRIMARY KEY,
  connection_id    TEXT COLLATE "C" NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
  mode             TEXT NOT NULL CHECK (mode IN ('auto', 'full', 'incremental')),
  status           TEXT NOT NULL
                   CHECK (status IN ('running', 'completed', 'failed', 'cancelled', 'interrupted')),
  started_at       BIGINT NOT NULL,
  finished_at      BIGINT,
  -- Per type: { status, resources, pages }; `result` holds the totals once the run ends.
  progress         TEXT NOT NULL,
  result           TEXT,
  -- Why it failed, for programs (`revoked`, `expired`, `upstream_error`...); `error` for people.
  reason           TEXT,
  error            TEXT,
  updated_at       BIGINT NOT NULL
);

CREATE INDEX sync_runs_by_connection ON sync_runs (connection_id, started_at DESC);
