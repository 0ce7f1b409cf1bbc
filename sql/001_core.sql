-- pacedial core schema: campaigns, cases, phones, the redial schedule and attempts.
-- Times are UTC (timestamptz); money is integer minor units (fen / cents).

CREATE TABLE campaigns (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    mode        text NOT NULL DEFAULT 'progressive',
    state       text NOT NULL DEFAULT 'stopped'
                CHECK (state IN ('stopped', 'running', 'paused')),
    config      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cases (
    id             bigserial PRIMARY KEY,
    campaign_id    bigint NOT NULL REFERENCES campaigns(id),
    external_id    text NOT NULL,
    debtor_name    text NOT NULL,
    amount_minor   bigint NOT NULL CHECK (amount_minor >= 0),
    currency       text NOT NULL DEFAULT 'CNY',
    days_past_due  integer NOT NULL CHECK (days_past_due >= 0),
    product        text NOT NULL DEFAULT '',
    due_date       date,
    extra          jsonb NOT NULL DEFAULT '{}'::jsonb,
    imported_at    timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, external_id)
);

CREATE TABLE phones (
    id          bigserial PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    position    integer NOT NULL,            -- 0 = first number to try
    e164        text NOT NULL,
    country     text NOT NULL DEFAULT '',    -- ISO 3166 alpha-2
    province    text NOT NULL DEFAULT '',
    city        text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'stopped')),
    stop_reason text,
    UNIQUE (case_id, e164)
);
CREATE INDEX phones_e164 ON phones (e164);

-- One row per case still to be worked: which phone is next and when. Leased by a runner
-- with FOR UPDATE SKIP LOCKED; a lease expires, so a crashed runner's contacts come back.
CREATE TABLE schedule (
    case_id          bigint PRIMARY KEY REFERENCES cases(id) ON DELETE CASCADE,
    campaign_id      bigint NOT NULL REFERENCES campaigns(id),
    phone_id         bigint NOT NULL REFERENCES phones(id),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    priority         integer NOT NULL DEFAULT 0,
    attempts         integer NOT NULL DEFAULT 0,
    leased_by        text,
    lease_until      timestamptz
);
CREATE INDEX schedule_due ON schedule (campaign_id, next_attempt_at, priority DESC);

-- One row per dial attempt, written BEFORE the originate. call_id is also the AMI ActionID /
-- ChannelId and the FreeSWITCH origination_uuid.
CREATE TABLE attempts (
    call_id          uuid PRIMARY KEY,
    campaign_id      bigint NOT NULL REFERENCES campaigns(id),
    case_id          bigint NOT NULL REFERENCES cases(id),
    phone_id         bigint NOT NULL REFERENCES phones(id),
    attempt_no       integer NOT NULL,
    caller_id        text NOT NULL DEFAULT '',
    runner           text NOT NULL,
    state            text NOT NULL DEFAULT 'dialing'
                     CHECK (state IN ('dialing', 'ringing', 'answered', 'done')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    ringing_at       timestamptz,
    answered_at      timestamptz,
    connected_at     timestamptz,
    ended_at         timestamptz,
    pbx_result       text,
    q850_cause       integer,
    cause_text       text,
    disposition      text,
    talk_seconds     double precision,
    agent            text,
    abandoned        boolean NOT NULL DEFAULT false,
    next_attempt_at  timestamptz,
    detail           jsonb NOT NULL DEFAULT '{}'::jsonb,
    CHECK ((state = 'done') = (disposition IS NOT NULL))
);
-- The database itself refuses a second open attempt for the same case.
CREATE UNIQUE INDEX attempts_one_open_per_case ON attempts (case_id) WHERE state <> 'done';
CREATE INDEX attempts_campaign_time ON attempts (campaign_id, created_at);
CREATE INDEX attempts_open ON attempts (runner) WHERE state <> 'done';

-- Import runs, with their per-row errors, so an operator can see what was rejected.
CREATE TABLE imports (
    id           bigserial PRIMARY KEY,
    campaign_id  bigint NOT NULL REFERENCES campaigns(id),
    source       text NOT NULL,
    imported     integer NOT NULL,
    updated      integer NOT NULL,
    unchanged    integer NOT NULL,
    rejected     integer NOT NULL,
    errors       jsonb NOT NULL DEFAULT '[]'::jsonb,
    at           timestamptz NOT NULL DEFAULT now()
);
