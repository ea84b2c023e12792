-- Two-way sync with calendar providers (Google Calendar, Microsoft Graph).

-- An account at a provider that a user of an organization connected through OAuth. Tokens are
-- sealed with an AEAD key from configuration ("<key id>.<nonce>.<ciphertext>", base64url), never
-- stored in plaintext. token_version increases on every refresh so concurrent refreshers (several
-- API nodes) can compare-and-set instead of overwriting each other.
CREATE TABLE provider_connections (
    id                TEXT PRIMARY KEY,
    organization_id   TEXT NOT NULL REFERENCES organizations (id),
    user_id           TEXT,
    provider          TEXT NOT NULL,
    account           TEXT NOT NULL,
    state             TEXT NOT NULL,
    access_token      TEXT,
    refresh_token     TEXT,
    access_expires_at BIGINT,
    token_version     BIGINT NOT NULL DEFAULT 0,
    last_error        TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (organization_id, provider, account)
);

-- An OAuth authorization in flight: single use, bound to who started it, short-lived. Only the
-- hash of the state is kept; the PKCE verifier is sealed like tokens.
CREATE TABLE oauth_states (
    state_sha256    TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    user_id         TEXT,
    provider        TEXT NOT NULL,
    pkce_verifier   TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    used_at         BIGINT
);

-- A local calendar linked to a provider calendar. sync_cursor is the provider's incremental
-- token (Google nextSyncToken, Graph deltaLink); NULL means the next pull is a full one.
CREATE TABLE calendar_links (
    id                   TEXT PRIMARY KEY,
    organization_id      TEXT NOT NULL REFERENCES organizations (id),
    calendar_id          TEXT NOT NULL REFERENCES calendars (id),
    connection_id        TEXT NOT NULL REFERENCES provider_connections (id),
    remote_calendar_id   TEXT NOT NULL,
    direction            TEXT NOT NULL,
    sync_cursor          TEXT,
    last_synced_at       BIGINT,
    last_error           TEXT,
    channel_id           TEXT,
    channel_resource_id  TEXT,
    channel_token_sha256 TEXT,
    channel_expires_at   BIGINT,
    -- The mass-deletion guard counts remote deletions over an hour, however many rounds they
    -- arrive in: how many were applied since the window opened, and how many series were synced then.
    deletion_window_start  BIGINT,
    deletions_in_window    BIGINT NOT NULL DEFAULT 0,
    mapped_at_window_start BIGINT,
    created_at           BIGINT NOT NULL,
    UNIQUE (calendar_id, connection_id, remote_calendar_id)
);
CREATE INDEX calendar_links_by_calendar ON calendar_links (calendar_id);

-- The transactional outbox: a row per (link, series) change, written in the same transaction as
-- the change. The worker pushes the series' current state (not the change), so rows for the same
-- series coalesce: finishing a push removes every row up to the one it started from.
CREATE TABLE sync_outbox (
    id              BIGSERIAL PRIMARY KEY,
    link_id         TEXT NOT NULL REFERENCES calendar_links (id) ON DELETE CASCADE,
    series_id       TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    enqueued_at     BIGINT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT
);
CREATE INDEX sync_outbox_due ON sync_outbox (link_id, next_attempt_at, id);
CREATE INDEX sync_outbox_by_series ON sync_outbox (link_id, series_id, id);

-- What a provider holds for a local series: its event id, etags, and the fingerprint of the
-- content both sides last agreed on (after a push, or after applying a pull). No foreign key to
-- series: a deleted series keeps its row until the deletion has been pushed. remote_id is NULL
-- when the provider holds nothing (the push was rejected): the row then only carries the why.
CREATE TABLE remote_series (
    link_id         TEXT NOT NULL REFERENCES calendar_links (id) ON DELETE CASCADE,
    series_id       TEXT NOT NULL,
    remote_id       TEXT,
    etag            TEXT,
    exceptions      TEXT NOT NULL,
    fingerprint     TEXT,
    fidelity        TEXT,
    fidelity_detail TEXT,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (link_id, series_id),
    UNIQUE (link_id, remote_id)
);
