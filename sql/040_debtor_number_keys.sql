-- The law's keys (REFERENCE.md "Keys"): the number called (Ofcom's lock-outs, one live call per
-- number) and the debtor (China's 3 effective calls a day, Reg F per consumer), not the case.
--
-- cases.debtor_id: the import's debtor identity (customer number, hashed national id), NULL when
-- not given. cases.debtor_key: the debtor the rules count on: 'id:<debtor_id>' when known, else
-- 'case:<id>' merged across cases that share a number (cases sharing a number with no debtor id
-- are one debtor for the caps; a case with no id sharing a number with an identified debtor
-- joins that debtor). Two different debtor ids stay two debtors even when they share a number
-- (a household line): the number's own rules still bind them together.
ALTER TABLE cases ADD COLUMN debtor_id text;
ALTER TABLE cases ADD COLUMN debtor_key text;
UPDATE cases SET debtor_key = 'case:' || id;
ALTER TABLE cases ALTER COLUMN debtor_key SET NOT NULL;
CREATE INDEX cases_debtor_key ON cases (debtor_key);

CREATE FUNCTION cases_set_debtor_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.debtor_id = '' THEN
        NEW.debtor_id := NULL;
    END IF;
    IF NEW.debtor_id IS NOT NULL THEN
        NEW.debtor_key := 'id:' || NEW.debtor_id;
    ELSIF TG_OP = 'INSERT' OR OLD.debtor_id IS NOT NULL THEN
        NEW.debtor_key := 'case:' || NEW.id;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER cases_debtor_key BEFORE INSERT OR UPDATE OF debtor_id ON cases
    FOR EACH ROW EXECUTE FUNCTION cases_set_debtor_key();

-- A phone shared with other cases merges unidentified debtors (see above).
CREATE FUNCTION phones_merge_debtors() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mine text;
    other text;
    keep text;
    gone text;
BEGIN
    SELECT debtor_key INTO mine FROM cases WHERE id = NEW.case_id;
    FOR other IN
        SELECT DISTINCT c.debtor_key FROM phones p JOIN cases c ON c.id = p.case_id
        WHERE p.e164 = NEW.e164 AND p.case_id <> NEW.case_id AND c.debtor_key <> mine
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
    RETURN NULL;
END
$$;

CREATE TRIGGER phones_debtors AFTER INSERT OR UPDATE OF e164 ON phones
    FOR EACH ROW EXECUTE FUNCTION phones_merge_debtors();

-- Existing data: merge as if the phones had just been inserted.
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT id FROM phones ORDER BY id LOOP
        UPDATE phones SET e164 = e164 WHERE id = r.id;
    END LOOP;
END
$$;

-- The number dialed, on the attempt itself: one live call per number is a constraint of the
-- database (as one open attempt per case is), across cases, campaigns and runners.
ALTER TABLE attempts ADD COLUMN e164 text;
UPDATE attempts a SET e164 = p.e164 FROM phones p WHERE p.id = a.phone_id;

CREATE FUNCTION attempts_fill_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.e164 IS NULL THEN
        SELECT e164 INTO NEW.e164 FROM phones WHERE id = NEW.phone_id;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER attempts_number BEFORE INSERT ON attempts
    FOR EACH ROW EXECUTE FUNCTION attempts_fill_number();

ALTER TABLE attempts ALTER COLUMN e164 SET NOT NULL;
CREATE UNIQUE INDEX attempts_one_open_per_number ON attempts (e164) WHERE state <> 'done';
CREATE INDEX attempts_number_time ON attempts (e164, created_at);
CREATE INDEX attempts_case_time ON attempts (case_id, created_at);

-- Zones known from the debtor's address (import columns tz / state): a number whose zone is
-- uncertain is callable only when the address zones are inside the window too.
ALTER TABLE cases ADD COLUMN address_zones text[] NOT NULL DEFAULT '{}';
