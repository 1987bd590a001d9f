-- dx-auth: accounts, revoked token ids, refresh-token families (spec/auth.md, "Stores").
-- Times are Unix seconds.
CREATE TABLE IF NOT EXISTS dx_auth_users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS dx_auth_revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dx_auth_revoked_tokens_expiry ON dx_auth_revoked_tokens (expires_at);

CREATE TABLE IF NOT EXISTS dx_auth_refresh_families (
    family_id  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES dx_auth_users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS dx_auth_refresh_families_expiry ON dx_auth_refresh_families (expires_at);

CREATE TABLE IF NOT EXISTS dx_auth_refresh_tokens (
    jti        TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES dx_auth_refresh_families (family_id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    spent_at   INTEGER
);
CREATE INDEX IF NOT EXISTS dx_auth_refresh_tokens_family ON dx_auth_refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS dx_auth_refresh_tokens_expiry ON dx_auth_refresh_tokens (expires_at);
