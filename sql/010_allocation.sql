-- Case allocation and follow-up (分案): account managers, who holds which case and since when,
-- notes after calls, follow-up tasks, promises to pay and payments.
-- Times are UTC (timestamptz); money is integer minor units (fen / cents).

CREATE TABLE managers (
    id                bigserial PRIMARY KEY,
    name              text NOT NULL UNIQUE,         -- login / short name
    display_name      text NOT NULL DEFAULT '',
    active            boolean NOT NULL DEFAULT true,
    -- What the assignment rules may give this manager; an empty array means "any".
    regions           text[] NOT NULL DEFAULT '{}', -- provinces (canonical English names)
    dpd_buckets       text[] NOT NULL DEFAULT '{}', -- M0 .. M7
    amount_min_minor  bigint CHECK (amount_min_minor >= 0),
    amount_max_minor  bigint CHECK (amount_max_minor >= 0),
    max_cases         integer CHECK (max_cases >= 0),  -- NULL = no cap
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- The current holder of each assigned case (at most one).
CREATE TABLE case_assignments (
    case_id      bigint PRIMARY KEY REFERENCES cases(id) ON DELETE CASCADE,
    manager_id   bigint NOT NULL REFERENCES managers(id),
    assigned_at  timestamptz NOT NULL,
    assigned_by  text NOT NULL,
    reason       text NOT NULL DEFAULT ''
);
CREATE INDEX case_assignments_manager ON case_assignments (manager_id);

-- Every change of holder: rule assignment, manual assignment, reassignment, unassignment.
CREATE TABLE assignment_events (
    id               bigserial PRIMARY KEY,
    case_id          bigint NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    from_manager_id  bigint REFERENCES managers(id),
    to_manager_id    bigint REFERENCES managers(id),
    at               timestamptz NOT NULL,
    by               text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('rule', 'manual', 'reassign', 'unassign')),
    reason           text NOT NULL DEFAULT ''
);
CREATE INDEX assignment_events_case ON assignment_events (case_id, at);

-- What a manager recorded after a call or a visit.
CREATE TABLE case_notes (
    id          bigserial PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    manager_id  bigint REFERENCES managers(id),
    call_id     uuid,                              -- the attempt, when the note follows a call
    at          timestamptz NOT NULL,
    outcome     text NOT NULL,
    note        text NOT NULL DEFAULT ''
);
CREATE INDEX case_notes_case ON case_notes (case_id, at);

-- Promises to pay, from the robot (attempts.detail) or from a manager's note.
CREATE TABLE promises (
    id            bigserial PRIMARY KEY,
    case_id       bigint NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    call_id       uuid UNIQUE,                     -- at most one promise per call
    amount_minor  bigint NOT NULL CHECK (amount_minor > 0),
    due_date      date NOT NULL,
    made_at       timestamptz NOT NULL,
    source        text NOT NULL CHECK (source IN ('robot', 'human')),
    status        text NOT NULL DEFAULT 'open'
                  CHECK (status IN ('open', 'kept', 'missed', 'cancelled')),
    settled_at    timestamptz
);
CREATE INDEX promises_open ON promises (due_date) WHERE status = 'open';
CREATE INDEX promises_case ON promises (case_id);

CREATE TABLE payments (
    id            bigserial PRIMARY KEY,
    case_id       bigint NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    amount_minor  bigint NOT NULL CHECK (amount_minor > 0),
    paid_at       timestamptz NOT NULL,
    reference     text NOT NULL DEFAULT '',
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_case ON payments (case_id, paid_at);
CREATE UNIQUE INDEX payments_reference ON payments (reference) WHERE reference <> '';

-- Follow-up work: callbacks, on-site visits, promise due dates, calls and SMS after a missed
-- promise. A callback also moves the case in `schedule`; the task is the manager's record.
CREATE TABLE tasks (
    id          bigserial PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES cases(id) ON DELETE CASCADE,
    manager_id  bigint REFERENCES managers(id),
    kind        text NOT NULL CHECK (kind IN ('callback', 'visit', 'promise_due', 'call', 'sms')),
    due_at      timestamptz NOT NULL,
    priority    integer NOT NULL DEFAULT 0,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    promise_id  bigint REFERENCES promises(id),
    note        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    done_at     timestamptz
);
CREATE INDEX tasks_open_manager ON tasks (manager_id, due_at) WHERE status = 'open';
CREATE INDEX tasks_case ON tasks (case_id);
-- One missed-promise follow-up per promise, whatever how often the check runs.
CREATE UNIQUE INDEX tasks_one_followup_per_promise ON tasks (promise_id, kind)
    WHERE kind IN ('call', 'sms', 'promise_due');
