-- Addresses each user has signed in from. The per-account login limit does not apply to
-- them (they get a counter of their own), so a stranger guessing a user's password cannot
-- lock the user out of the places they usually sign in from. A row is only ever made by a
-- successful login, so strangers cannot grow this table.
CREATE TABLE known_login_addresses (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ip TEXT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, ip)
);
CREATE INDEX known_login_addresses_last_login ON known_login_addresses (last_login_at);
