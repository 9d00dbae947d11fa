-- Webhook deliveries: an outbox row per event × endpoint, made by a dispatcher that reads the
-- events table after a persisted per-endpoint cursor; and once-only event keys.

-- How far each endpoint's fan-out has read the events table. NULL: from the very start.
CREATE TABLE webhook_cursors (
  endpoint_id     TEXT PRIMARY KEY,
  after_event_id  TEXT,
  updated_at      BIGINT NOT NULL
);

-- `seq` orders deliveries created in the same millisecond by insertion (SQLite's rowid).
CREATE TABLE webhook_deliveries (
  seq              BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
  id               TEXT COLLATE "C" PRIMARY KEY,
  event_id         TEXT NOT NULL,
  event_type       TEXT NOT NULL,
  connection_id    TEXT,
  endpoint_id      TEXT NOT NULL,
  url              TEXT NOT NULL,
  -- The exact bytes signed and sent, so every attempt (and a redelivery) sends the same body.
  payload          TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
  attempts         BIGINT NOT NULL,
  -- For `pending`: when the next attempt is due (a claim moves it forward as a lease).
  next_attempt_at  BIGINT,
  last_attempt_at  BIGINT,
  last_status      INTEGER,
  last_error       TEXT,
  delivered_at     BIGINT,
  redeliveries     BIGINT NOT NULL DEFAULT 0,
  created_at       BIGINT NOT NULL,
  updated_at       BIGINT NOT NULL
);

-- Fan-out is idempotent: two dispatchers reading the same events make one delivery each.
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (event_id, endpoint_id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_created ON webhook_deliveries (created_at DESC, id DESC);

-- Events that must be emitted once (e.g. `connection.expiring` per connection and grant): the
-- key and the event row are written in one transaction.
CREATE TABLE event_once (
  key         TEXT PRIMARY KEY,
  event_id    TEXT NOT NULL,
  created_at  BIGINT NOT NULL
);
