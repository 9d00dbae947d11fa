-- Practices: healow's endpoint directory, operator-added bases and config mirrors, with health.
-- Rows are never deleted: a practice gone from its source is `vanished`, connections keep
-- pointing at its base. No CHECK on vendor: new vendor profiles must not need a table change.

CREATE TABLE practices (
  id                 TEXT COLLATE "C" PRIMARY KEY,
  name               TEXT NOT NULL,
  base               TEXT NOT NULL,
  vendor             TEXT NOT NULL,
  registration       TEXT,
  source             TEXT NOT NULL CHECK (source IN ('directory', 'operator', 'config')),
  organization_name  TEXT,
  address_line       TEXT,
  city               TEXT,
  state              TEXT,
  postal_code        TEXT,
  status             TEXT NOT NULL CHECK (status IN ('active', 'vanished', 'disabled')),
  status_reason      TEXT,
  last_checked_at    BIGINT,
  discovery_ok       BOOLEAN,
  last_error         TEXT,
  imported_at        BIGINT NOT NULL,
  updated_at         BIGINT NOT NULL
);

-- Not unique: a vanished record may share its base with the practice that replaced it.
CREATE INDEX practices_by_base ON practices (base);
