-- SMS reminders sent through a campaign's webhook: one row per message, written before the
-- first POST (status 'sending') and closed with the gateway's last answer. The number itself
-- is the phone row's; the row keeps only its masked form for display.
CREATE TABLE sms_sends (
    id             uuid PRIMARY KEY,              -- also the Idempotency-Key sent to the gateway
    campaign_id    bigint NOT NULL REFERENCES campaigns(id),
    case_id        bigint NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    phone_id       bigint NOT NULL REFERENCES phones(id) ON DELETE CASCADE,
    to_masked      text NOT NULL,
    trigger        text NOT NULL
                   CHECK (trigger IN ('no_answer_streak', 'promise', 'before_due')),
    body           text NOT NULL,
    status         text NOT NULL DEFAULT 'sending'
                   CHECK (status IN ('sending', 'sent', 'failed', 'gave_up')),
    tries          integer NOT NULL DEFAULT 0,    -- POSTs made (retries included)
    response_code  integer,                       -- the last HTTP status, NULL if none came
    error          text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    finished_at    timestamptz
);
CREATE INDEX sms_sends_case ON sms_sends (case_id, created_at);
CREATE INDEX sms_sends_campaign ON sms_sends (campaign_id, created_at);
