-- A change counter of the DNC entries: a runner compares it before each launch round (one
-- cheap read) and reloads the list only when it moved, so an entry added is honoured at the
-- next Originate (well within a second), not at the next periodic reload.
CREATE TABLE dnc_version (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    version  bigint NOT NULL
);
INSERT INTO dnc_version VALUES (true, 0);

CREATE FUNCTION dnc_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dnc_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER dnc_entries_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dnc_entries
    FOR EACH STATEMENT EXECUTE FUNCTION dnc_bump_version();
