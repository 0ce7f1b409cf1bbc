-- Import at scale: the bulk import writes a chunk's new cases, phones and schedule rows with
-- session_replication_role = replica when it may (dialer_core/store/case_import.py): the
-- foreign-key checks, one query per referencing row (about six per case, ~40 % of
-- PostgreSQL's work in a million-row import), are replaced there by the same row locks taken
-- once per chunk, set-based. The debtor-key triggers must still fire in that session, so they
-- fire ALWAYS (for every other session nothing changes). The import checks, before using
-- replica mode, that every trigger of these tables fires ALWAYS and that their foreign keys
-- are exactly the ones it locks for; a trigger or foreign key added later keeps the import on
-- the ordinary path until it is accounted for.
ALTER TABLE cases ENABLE ALWAYS TRIGGER cases_debtor_key_insert;
ALTER TABLE cases ENABLE ALWAYS TRIGGER cases_debtor_key_update;
ALTER TABLE phones ENABLE ALWAYS TRIGGER phones_debtors_insert;
ALTER TABLE phones ENABLE ALWAYS TRIGGER phones_debtors_update;
