-- Import at scale: merging debtors across cases that share a number (040) ran a PL/pgSQL
-- trigger with two queries for every phone inserted, most of the time of a million-row import.
-- Inserts now run one statement-level trigger: a single indexed join keeps the new phones whose
-- number another case already has, and only those take the merge, one at a time in insertion
-- order exactly as the row trigger did (a phone whose number no other case has never merged
-- anything). A change of a phone's number keeps the row trigger.
CREATE FUNCTION merge_debtors_on_number(phone_case bigint, phone_e164 text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    mine text;
    other text;
    keep text;
    gone text;
BEGIN
    SELECT debtor_key INTO mine FROM cases WHERE id = phone_case;
    FOR other IN
        SELECT DISTINCT c.debtor_key FROM phones p JOIN cases c ON c.id = p.case_id
        WHERE p.e164 = phone_e164 AND p.case_id <> phone_case AND c.debtor_key <> mine
        ORDER BY 1
    LOOP
        CONTINUE WHEN mine LIKE 'id:%' AND other LIKE 'id:%';
        IF mine LIKE 'id:%' OR (other NOT LIKE 'id:%' AND mine < other) THEN
            keep := mine; gone := other;
        ELSE
            keep := other; gone := mine;
        END IF;
        UPDATE cases SET debtor_key = keep WHERE debtor_key = gone;
        mine := keep;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION phones_merge_debtors() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM merge_debtors_on_number(NEW.case_id, NEW.e164);
    RETURN NULL;
END
$$;

CREATE FUNCTION phones_merge_debtors_added() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR r IN
        SELECT a.case_id, a.e164 FROM added a
        CROSS JOIN LATERAL (  -- one probe of the phones_e164 index per new phone, never a scan
            SELECT 1 FROM phones p WHERE p.e164 = a.e164 AND p.case_id <> a.case_id LIMIT 1
        ) shared
        ORDER BY a.id
    LOOP
        PERFORM merge_debtors_on_number(r.case_id, r.e164);
    END LOOP;
    RETURN NULL;
END
$$;

DROP TRIGGER phones_debtors ON phones;
CREATE TRIGGER phones_debtors_update AFTER UPDATE OF e164 ON phones
    FOR EACH ROW EXECUTE FUNCTION phones_merge_debtors();
CREATE TRIGGER phones_debtors_insert AFTER INSERT ON phones REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION phones_merge_debtors_added();
