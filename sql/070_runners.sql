-- Runner processes and their heartbeats. Every `pacedial run` process (and every campaign
-- runner inside it) registers a unique id host:pid:start; attempts.runner and
-- schedule.leased_by carry that id. Recovery closes open attempts only of runners whose
-- heartbeat expired (or that stopped, or whose id has no row: from before this table).
CREATE TABLE runners (
    id            text PRIMARY KEY,
    host          text NOT NULL,
    pid           integer NOT NULL,
    started_at    timestamptz NOT NULL,
    campaign_id   bigint REFERENCES campaigns(id),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    stopped_at    timestamptz
);
CREATE INDEX runners_heartbeat ON runners (heartbeat_at) WHERE stopped_at IS NULL;
CREATE INDEX attempts_open_campaign ON attempts (campaign_id, runner) WHERE state <> 'done';
