-- How a calendar's available time is defined: DEFAULT (available unless busy, within
-- working_hours when set, e.g. "MO,TU,WE,TH,FR 09:00-17:00") or EXPLICIT (only inside its
-- AVAILABLE occurrences).
ALTER TABLE calendars ADD COLUMN availability_mode TEXT NOT NULL DEFAULT 'DEFAULT' CHECK (availability_mode IN ('DEFAULT', 'EXPLICIT'));
ALTER TABLE calendars ADD COLUMN working_hours TEXT NOT NULL DEFAULT '';

-- "Show as free": an EVENT series whose occurrences do not make time busy.
ALTER TABLE series ADD COLUMN transparent BOOLEAN NOT NULL DEFAULT FALSE;
