-- API keys belong to an app and carry a role. Keys made before roles could call every route and
-- see every connection, so they become `admin` keys: nothing that worked stops working on
-- upgrade; the operator then gives each app backend its own `app` key and revokes the old one.
ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'admin' CHECK (role IN ('app', 'admin'));

-- The patient pages' sign-in caps count and expire connections that never connected, by age.
CREATE INDEX connections_never_connected ON connections (created_at) WHERE connected_at IS NULL;
