-- Connection states for a declined consent and for a refresh whose answer was lost, plus what
-- the refresher needs to tell a lost answer from a revocation and to size its leeway.
-- The state column is swapped in place (add, copy, drop, rename) rather than by rebuilding the
-- table: a rebuild's DROP TABLE would cascade into every table that references connections.

DROP INDEX connections_expiring;
ALTER TABLE connections ADD COLUMN lifecycle TEXT NOT NULL DEFAULT 'pending'
  CHECK (lifecycle IN ('pending', 'active', 'declined', 'expired', 'revoked',
                       'reauthorization_required', 'error'));
UPDATE connections SET lifecycle = state;
ALTER TABLE connections DROP COLUMN state;
ALTER TABLE connections RENAME COLUMN lifecycle TO state;
CREATE INDEX connections_expiring ON connections (state, access_expires_at);

-- When the current access token was issued (the clock before its token call): its lifetime
-- bounds the refresh leeway.
ALTER TABLE connections ADD COLUMN access_issued_at INTEGER;
-- Set before a refresh token call and cleared once its answer is stored (or refused without a
-- rotation): a value left behind means the EHR may have rotated the refresh token unheard.
ALTER TABLE connections ADD COLUMN refresh_attempt_at INTEGER;
-- A successful refresh answer as received, sealed (context `refresh-answer:<id>`), kept from
-- its arrival until its tokens are stored: a process that dies in between loses nothing.
ALTER TABLE connections ADD COLUMN sealed_refresh_answer TEXT;
