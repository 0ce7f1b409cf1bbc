-- People who use the browser: agents, account managers, supervisors, administrators.
-- Passwords are argon2id hashes; a session cookie holds a random token whose SHA-256 is kept
-- here, with its own CSRF token. Machines keep using API tokens (site file), not these.

CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    username        text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    display_name    text NOT NULL DEFAULT '',
    role            text NOT NULL
                    CHECK (role IN ('agent', 'account_manager', 'supervisor', 'admin')),
    password_hash   text NOT NULL,
    -- An agent's seat on the PBX: the app_queue member interface (Asterisk) or the
    -- mod_callcenter agent name (FreeSWITCH). Unique: one person per seat.
    pbx_agent       text UNIQUE,
    -- A supervisor's own phone, dialed for listen / whisper / barge.
    phone           text,
    active          boolean NOT NULL DEFAULT true,
    failed_logins   integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_sessions (
    token_sha256  bytea PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
