-- The matching key of each username (NFKC, case-folded: src/accounts/username.rs), unique, so
-- `Alice` and `alice` are one user. SQL cannot compute NFKC: the column starts empty and
-- gatehouse fills it for existing rows right after migrating (storage::accounts::
-- fill_username_keys), refusing to start if two existing names share a key. A unique index
-- over a nullable column allows many NULLs on both backends, so the fill can run row by row.
-- (PostgreSQL already calls the UNIQUE constraint of `username` `users_username_key`.)
ALTER TABLE users ADD COLUMN username_key TEXT;
CREATE UNIQUE INDEX users_by_username_key ON users (username_key);
