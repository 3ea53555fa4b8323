-- Browsers that have signed in to an account before ("known devices"). A
-- known device's sign-in attempts are counted on their own, so that a
-- stranger's wrong passwords, which lock the account for everyone else,
-- cannot keep its owner out (OWASP: device cookies). Only a SHA-256 of the
-- random cookie value is stored.
CREATE TABLE login_devices (
    token_hash bytea PRIMARY KEY,
    tenant_id  uuid NOT NULL,
    user_id    uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX login_devices_user ON login_devices (tenant_id, user_id, created_at);
