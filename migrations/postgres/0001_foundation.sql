-- Organizations own everything; every row carries its organization from day one.
CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE calendars (
    id              TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name            TEXT NOT NULL,
    time_zone       TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX calendars_by_organization ON calendars (organization_id, id);

-- A series stores its schedule as the user gave it (wall-clock start, IANA zone, length,
-- RRULE/RDATE/EXDATE text) plus derived columns that let SQL find the series whose occurrences
-- can touch a window: span_start is the first occurrence's start, span_end the last occurrence's
-- end (NULL: the series never ends). Instants are seconds since the Unix epoch, UTC.
CREATE TABLE series (
    id                TEXT PRIMARY KEY,
    organization_id   TEXT NOT NULL REFERENCES organizations (id),
    calendar_id       TEXT NOT NULL REFERENCES calendars (id) ON DELETE CASCADE,
    kind              TEXT NOT NULL CHECK (kind IN ('EVENT', 'BLOCKED', 'AVAILABLE')),
    title             TEXT NOT NULL,
    description       TEXT,
    start_local       TEXT NOT NULL,
    time_zone         TEXT NOT NULL,
    all_day           BOOLEAN NOT NULL,
    length_days       BIGINT NOT NULL,
    length_seconds    BIGINT NOT NULL,
    length_wall_clock BOOLEAN NOT NULL,
    rrule             TEXT,
    rdates            TEXT NOT NULL,
    exdates           TEXT NOT NULL,
    has_recurrence    BOOLEAN NOT NULL,
    rule_bound        BIGINT,
    span_start        BIGINT NOT NULL,
    span_end          BIGINT,
    version           BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX series_by_calendar_span ON series (organization_id, calendar_id, span_start);
