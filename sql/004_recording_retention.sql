-- Recordings past their campaign's retention are deleted from disk; the row stays, marked.
ALTER TABLE recordings ADD COLUMN purged_at timestamptz;
ALTER TABLE recordings ADD COLUMN checked_at timestamptz;
CREATE INDEX recordings_unchecked ON recordings (started_at) WHERE checked_at IS NULL;
