-- Changes that subscriptions fan out. With PostgreSQL every API process LISTENs on
-- 'almanac_changes'; a writer stores the change here and NOTIFYs its id (NOTIFY payloads are
-- small; a change carries whole series). Rows are pruned after ten minutes. The embedded SQLite
-- mode fans out in-process and does not use the table.
CREATE TABLE change_events (
    id         BIGSERIAL PRIMARY KEY,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
