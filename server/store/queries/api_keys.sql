-- Businesses and their API keys (store::ApiKeyStore; BusinessExists also
-- store::RunStore).

-- name: InsertBusiness
INSERT INTO business (name) VALUES ($1) RETURNING id;

-- name: BusinessExists
SELECT 1 AS found FROM business WHERE id = $1;

-- fragment: BusinessColumns
id, coalesce(name, '') AS name, max_calls_per_second,
(extract(epoch from created_at) * 1000000)::int8 AS created_at_us

-- name: GetBusiness
SELECT {{BusinessColumns}} FROM business WHERE id = $1;

-- name: SetBusinessLimits
-- Sets business `$1`'s calls-per-second limit. Its dial-rate bucket keeps
-- its tokens; the next claim caps them at the new capacity.
UPDATE business SET max_calls_per_second = $2 WHERE id = $1 RETURNING {{BusinessColumns}};

-- name: InsertApiKey
-- A key of role `$2` for business `$1` (NULL for a system admin); only the
-- key's hash `$5` is stored.
INSERT INTO api_keys (business_id, role, user_id, label, key_hash)
VALUES ($1, $2, nullif($3::int8, 0), $4, $5) RETURNING id;

-- name: RevokeApiKey
-- Revokes a key (the first revocation time is kept).
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1;

-- name: FindApiKey
-- The key with hash `$1`, revoked or not.
SELECT id, business_id, role, coalesce(user_id, 0) AS user_id, label,
       revoked_at IS NOT NULL AS revoked
  FROM api_keys WHERE key_hash = $1;
