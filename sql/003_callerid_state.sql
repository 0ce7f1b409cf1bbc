-- Caller-ID health state per outbound number: warnings and quarantine ("resting") decided from
-- the number's answer rate against its pool; an operator's restore starts a fresh sample.

CREATE TABLE callerid_state (
    number       text PRIMARY KEY,
    status       text NOT NULL CHECK (status IN ('ok', 'warn', 'rest')),
    reason       text NOT NULL DEFAULT '',
    p_value      double precision,
    changed_at   timestamptz NOT NULL,
    restored_at  timestamptz            -- health only counts calls after the last restore
);

CREATE TABLE callerid_events (
    id       bigserial PRIMARY KEY,
    number   text NOT NULL,
    status   text NOT NULL,
    reason   text NOT NULL,
    at       timestamptz NOT NULL
);
CREATE INDEX attempts_caller_time ON attempts (caller_id, created_at);
