-- Do-not-call entries managed over the API: exact E.164 numbers or "+digits*" prefixes.
-- source: "global" or the name of the list / campaign the entry belongs to.
CREATE TABLE dnc_entries (
    id          bigserial PRIMARY KEY,
    pattern     text NOT NULL CHECK (pattern ~ '^\+[1-9][0-9]{0,14}\*?$'),
    source      text NOT NULL DEFAULT 'global',
    reason      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pattern, source)
);
