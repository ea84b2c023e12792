-- API keys belong to an organization. The secret is shown once at creation; only its SHA-256 is
-- kept (the secret is 256 random bits, so a slow hash adds nothing). Revoked keys stay for audit.
CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    secret_sha256   TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);
CREATE INDEX api_keys_by_organization ON api_keys (organization_id, id);
