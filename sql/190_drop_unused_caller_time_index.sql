-- attempts_caller_time (caller_id, created_at) served no query: every caller-ID read (health
-- cells, daily usage) filters by campaign and time first, which attempts_campaign_time serves.
-- Each attempt row version costs an entry in every full index: the insert before the Originate,
-- each progress update and the close (none of them can be a HOT update: `state` is in the
-- partial indexes' predicates). One index fewer is one index write fewer per step.
DROP INDEX IF EXISTS attempts_caller_time;
