-- API keys: only a SHA-256 of the key is stored. A system_admin key belongs to
-- no business; every other role belongs to exactly one.

CREATE TABLE IF NOT EXISTS api_keys (
  id          bigserial PRIMARY KEY,
  business_id bigint REFERENCES business (id),
  role        varchar(32) NOT NULL,
  user_id     bigint,
  label       varchar(255) NOT NULL DEFAULT '',
  key_hash    char(64) NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz,
  CONSTRAINT api_keys_role_check
    CHECK (role IN ('system_admin', 'owner', 'admin', 'agent')),
  CONSTRAINT api_keys_business_check
    CHECK ((role = 'system_admin') = (business_id IS NULL)),
  CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);

CREATE INDEX IF NOT EXISTS api_keys_business_id_idx ON api_keys (business_id);
