-- The business's do-not-call list (store::DoNotCallStore): E.164 numbers,
-- one row per (business, phone), migration 0015. The scheduler reads it at
-- claim time; these statements are the API's (add, remove, list).

-- name: AddDoNotCallNumbers
-- Adds the numbers of `$2` (a text[] of E.164 numbers) to business `$1`'s
-- list; a number already on it stays as it is (its created_at too). The
-- affected row count is the numbers that were new.
INSERT INTO do_not_call (business_id, phone)
SELECT DISTINCT $1::int8, p FROM unnest($2::text[]) AS p
ON CONFLICT (business_id, phone) DO NOTHING;

-- name: RemoveDoNotCallNumbers
-- Removes the numbers of `$2` (a text[]) from business `$1`'s list; the
-- affected row count is the numbers that were on it.
DELETE FROM do_not_call d WHERE d.business_id = $1 AND d.phone = ANY($2::text[]);

-- name: ListDoNotCallNumbers
-- A page of business `$1`'s list in phone order, after phone `$2` (NULL:
-- from the first), at most `$3` rows.
SELECT d.phone, (extract(epoch from d.created_at) * 1000000)::int8 AS created_at_us
  FROM do_not_call d
 WHERE d.business_id = $1 AND ($2::text IS NULL OR d.phone > $2::text)
 ORDER BY d.phone LIMIT $3;
