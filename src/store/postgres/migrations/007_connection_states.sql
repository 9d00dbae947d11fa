-- Connection states for a declined consent and for a refresh whose answer was lost, plus what
-- the refresher needs to tell a lost answer from a revocation and to size its leeway.

ALTER TABLE connections DROP CONSTRAINT connections_state_check;
ALTER TABLE connections ADD CONSTRAINT connections_state_check
  CHECK (state IN ('pending', 'active', 'declined', 'expired', 'revoked',
                   'reauthorization_required', 'error'));

-- When the current access token was issued (the clock before its token call): its lifetime
-- bounds the refresh leeway.
ALTER TABLE connections ADD COLUMN access_issued_at BIGINT;
-- Set before a refresh token call and cleared once its answer is stored (or refused without a
-- rotation): a value left behind means the EHR may have rotated the refresh token unheard.
ALTER TABLE connections ADD COLUMN refresh_attempt_at BIGINT;
-- A successful refresh answer as received, sealed (context `refresh-answer:<id>`), kept from
-- its arrival until its tokens are stored: a process that dies in between loses nothing.
ALTER TABLE connections ADD COLUMN sealed_refresh_answer TEXT;
