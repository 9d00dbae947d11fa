-- Practices: healow's endpoint directory, operator-added bases and config mirrors, with health.
-- Rows are never deleted: a practice gone from its source is `vanished`, connections keep
-- pointing at its base. No CHECK on vendor: new vendor profiles must not need a table rebuild.

CREATE TABLE practices (
  id                 TEXT PRIMARY KEY,
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
  last_checked_at    INTEGER,
  discovery_ok       INTEGER CHECK (discovery_ok IN (0, 1)),
  last_error         TEXT,
  imported_at        INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL
) STRICT;

-- Not unique: a vanished record may share its base with the practice that replaced it.
CREATE INDEX practices_by_base ON practices (base);
-- No index on name or source: each doubled the cost of importing 17,000 practices, while
-- sorting or scanning that many rows for an operator's list page takes milliseconds.
