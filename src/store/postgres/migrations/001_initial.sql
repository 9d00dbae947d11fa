-- The first schema: keys, connections, auth sessions, API keys and the event outbox.
-- Times are BIGINT epoch milliseconds; arrays and objects are JSON text (kept as written).
-- Ordered and compared text keys use COLLATE "C": byte order, the same on every database and
-- the same as the SQLite adapter's, whatever the cluster's locale.

CREATE TABLE keys (
  kid                 TEXT COLLATE "C" PRIMARY KEY,
  keyring             TEXT NOT NULL,
  status              TEXT NOT NULL CHECK (status IN ('next', 'active', 'retired')),
  public_jwk          TEXT NOT NULL,
  sealed_private_key  TEXT NOT NULL,
  created_at          BIGINT NOT NULL,
  activates_at        BIGINT,
  remove_at           BIGINT
);

CREATE INDEX keys_by_keyring ON keys (keyring, created_at);

CREATE TABLE connections (
  id                  TEXT COLLATE "C" PRIMARY KEY,
  registration        TEXT NOT NULL,
  practice_base       TEXT NOT NULL,
  user_ref            TEXT NOT NULL,
  state               TEXT NOT NULL
                      CONSTRAINT connections_state_check
                      CHECK (state IN ('pending', 'active', 'expired', 'revoked', 'error')),
  state_reason        TEXT,
  patient_id          TEXT,
  fhir_user           TEXT,
  granted_scopes      TEXT NOT NULL,
  sealed_tokens       TEXT,
  access_expires_at   BIGINT,
  refresh_expires_at  BIGINT,
  token_version       BIGINT NOT NULL,
  refresh_lease_until BIGINT,
  created_at          BIGINT NOT NULL,
  updated_at          BIGINT NOT NULL,
  connected_at        BIGINT
);

-- One connection per user at a practice under a registration: reconnects reuse it.
CREATE UNIQUE INDEX connections_by_user ON connections (registration, practice_base, user_ref);
-- The refresher's scan: active connections by access-token expiry.
CREATE INDEX connections_expiring ON connections (state, access_expires_at);
CREATE INDEX connections_by_created ON connections (created_at DESC, id DESC);

-- A pending authorize round trip belongs to its connection: deleting the connection ends it.
CREATE TABLE auth_sessions (
  state_hash       TEXT PRIMARY KEY,
  connection_id    TEXT COLLATE "C" NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
  sealed_verifier  TEXT NOT NULL,
  nonce            TEXT NOT NULL,
  redirect_uri     TEXT NOT NULL,
  return_to        TEXT,
  browser_hash     TEXT,
  created_at       BIGINT NOT NULL,
  expires_at       BIGINT NOT NULL
);

CREATE INDEX auth_sessions_by_connection ON auth_sessions (connection_id);
CREATE INDEX auth_sessions_by_expiry ON auth_sessions (expires_at);

CREATE TABLE api_keys (
  id            TEXT COLLATE "C" PRIMARY KEY,
  name          TEXT NOT NULL,
  hash          TEXT NOT NULL UNIQUE,
  created_at    BIGINT NOT NULL,
  last_used_at  BIGINT,
  revoked_at    BIGINT
);

-- The outbox keeps no foreign key to connections: a `connection.deleted` event outlives the
-- connection it tells about. `seq` gives insertion order (ids are random).
CREATE TABLE events (
  seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id             TEXT NOT NULL UNIQUE,
  type           TEXT NOT NULL,
  connection_id  TEXT,
  data           TEXT NOT NULL,
  created_at     BIGINT NOT NULL
);

CREATE INDEX events_by_connection ON events (connection_id, seq);
