-- iCalendar feeds: a calendar published at a secret URL. The URL's token (256 random bits) is
-- shown once at creation; only its SHA-256 is kept, plus its last four characters so people can
-- tell feeds apart. Revoked feeds stay (revoked_at set) and answer 404 like unknown tokens.
CREATE TABLE ics_feeds (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    calendar_id     TEXT NOT NULL REFERENCES calendars (id) ON DELETE CASCADE,
    token_sha256    TEXT NOT NULL UNIQUE,
    token_hint      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);
CREATE INDEX ics_feeds_by_calendar ON ics_feeds (organization_id, calendar_id, created_at);

-- Which series an iCalendar import made from which UID, per calendar: importing the same UID
-- into the same calendar again replaces that series (same id) instead of adding a copy. A
-- deleted series takes its row with it, so a later import creates it afresh.
CREATE TABLE ics_import_sources (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    calendar_id     TEXT NOT NULL REFERENCES calendars (id) ON DELETE CASCADE,
    source_uid      TEXT NOT NULL,
    series_id       TEXT NOT NULL UNIQUE REFERENCES series (id) ON DELETE CASCADE,
    imported_at     BIGINT NOT NULL,
    PRIMARY KEY (calendar_id, source_uid)
);
