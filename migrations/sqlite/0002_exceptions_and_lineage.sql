-- "This and following" edits split a series into a chain. Every series of a chain shares
-- lineage_id (the first one's id), from which occurrence ids are derived; parent_series_id and
-- split_at (the parent's recurrence id where this one continues) record where it came from.
ALTER TABLE series ADD COLUMN lineage_id TEXT NOT NULL DEFAULT '';
ALTER TABLE series ADD COLUMN parent_series_id TEXT;
ALTER TABLE series ADD COLUMN split_at BIGINT;
UPDATE series SET lineage_id = id WHERE lineage_id = '';
CREATE INDEX series_by_lineage ON series (organization_id, lineage_id);
CREATE INDEX series_by_parent ON series (organization_id, parent_series_id);

-- Edits of single occurrences (RFC 5545 RECURRENCE-ID overrides), part of their series: they
-- are rewritten with it, in the same transaction, under the series' version.
CREATE TABLE series_exceptions (
    series_id       TEXT NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    recurrence_id   BIGINT NOT NULL,
    status          TEXT CHECK (status IN ('CONFIRMED', 'TENTATIVE', 'COMPLETED', 'CANCELLED')),
    start_at        BIGINT,
    end_at          BIGINT,
    title           TEXT,
    description     TEXT,
    kind            TEXT CHECK (kind IN ('EVENT', 'BLOCKED', 'AVAILABLE')),
    locked          INTEGER NOT NULL,
    PRIMARY KEY (series_id, recurrence_id)
);
