-- Clients (APIs) allowed to introspect every client's tokens (`client create --introspect`).
-- Any other client learns only about its own tokens (RFC 7662 §4).
ALTER TABLE clients ADD COLUMN introspect BOOLEAN NOT NULL DEFAULT FALSE;
