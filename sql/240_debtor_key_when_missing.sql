-- Import at scale: the debtor key trigger (040) ran its PL/pgSQL function for every case
-- inserted. A writer that already gives the key the function would set ('id:<debtor_id>', or
-- 'case:<id>' without a debtor id: the bulk import computes it in its INSERT ... SELECT) no
-- longer calls it: the trigger's WHEN clause (a plain expression, no function call) skips
-- exactly those rows, so every other insert — no key, a wrong key, an empty debtor id — still
-- gets the key from the function, as before. Updates of debtor_id keep the unconditional
-- trigger.
DROP TRIGGER cases_debtor_key ON cases;
CREATE TRIGGER cases_debtor_key_insert BEFORE INSERT ON cases
    FOR EACH ROW
    WHEN (NEW.debtor_id = ''
          OR NEW.debtor_key IS DISTINCT FROM
             CASE WHEN NEW.debtor_id IS NULL THEN 'case:' || NEW.id
                  ELSE 'id:' || NEW.debtor_id END)
    EXECUTE FUNCTION cases_set_debtor_key();
CREATE TRIGGER cases_debtor_key_update BEFORE UPDATE OF debtor_id ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_set_debtor_key();
