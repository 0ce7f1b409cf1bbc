-- Import at scale: each case remembers a digest of the CSV row it was last imported from, so
-- re-importing an unchanged file skips those rows before any parsing (NULL = never imported
-- from a file, or imported before this migration). imports.errors keeps the first rows only;
-- rejected is the full count.
ALTER TABLE cases ADD COLUMN source_digest bigint;
ALTER TABLE imports ADD COLUMN encoding text NOT NULL DEFAULT '';
ALTER TABLE imports ADD COLUMN strict boolean NOT NULL DEFAULT false;
ALTER TABLE imports ADD COLUMN committed boolean NOT NULL DEFAULT true;
