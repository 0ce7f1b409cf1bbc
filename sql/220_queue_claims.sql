-- Calls each runner has aimed at an agent queue right now, so campaigns that share one queue
-- (in other processes or on other hosts) pace on its free members together
-- (dialer_core/campaign/queue_board.py). One row per runner, rewritten about every second;
-- rows of runners that stopped or whose heartbeat expired are ignored.
CREATE TABLE queue_claims (
    runner      text PRIMARY KEY REFERENCES runners(id),
    queue       text NOT NULL,
    ringing     integer NOT NULL CHECK (ringing >= 0),
    waiting     integer NOT NULL CHECK (waiting >= 0),
    dialing     boolean NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX queue_claims_queue ON queue_claims (queue);
