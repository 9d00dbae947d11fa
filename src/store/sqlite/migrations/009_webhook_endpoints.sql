-- Webhook endpoints made over the API, beside those in the configuration. The signing secret is
-- sealed with the master key (the dispatcher needs it to sign, so it cannot be a hash).
CREATE TABLE webhook_endpoints (
  id             TEXT PRIMARY KEY,
  url            TEXT NOT NULL,
  description    TEXT,
  -- JSON array of event types or families; NULL: every type.
  events         TEXT,
  sealed_secret  TEXT NOT NULL,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL
) STRICT;
