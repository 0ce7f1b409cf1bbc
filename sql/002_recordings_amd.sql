-- Call recordings for quality review, and answering-machine detection decisions.

CREATE TABLE recordings (
    call_id      uuid PRIMARY KEY REFERENCES attempts(call_id),
    path         text NOT NULL,          -- as the PBX wrote it (MixMonitor file name)
    started_at   timestamptz NOT NULL,
    duration_s   double precision,       -- filled when the file is checked
    sha256       text,
    size_bytes   bigint
);

-- Every AMD verdict, so false positives can be studied against what happened next.
CREATE TABLE amd_decisions (
    call_id      uuid PRIMARY KEY REFERENCES attempts(call_id),
    status       text NOT NULL,          -- HUMAN | MACHINE | NOTSURE | HANGUP
    cause        text NOT NULL DEFAULT '',
    action       text NOT NULL,          -- what the campaign did: hangup | message | human
    at           timestamptz NOT NULL DEFAULT now()
);
