#!/usr/bin/env python3
"""Fills a gatehouse database with USERS users (each holding the role `bench`) and CLIENTS
clients, straight in SQL, for the admin list benchmarks (bench/load.sh admin). Rows already
there are kept: it adds up to the counts given. The users cannot sign in (their password
hash is not a real one); the clients are public and have no secret.

    bench/seed_admin.py DATABASE_URL USERS CLIENTS
"""
import subprocess
import sys

url, users, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

# One statement a table, numbered rows from a series: the same text for both databases
# but for the series itself.
def statements(series):
    return [
        f"""INSERT INTO users (id, username, password_hash, created_at, username_key)
            SELECT 'seeded-user-' || {pad('i', 6)}, 'user' || {pad('i', 6)}, 'not-a-bcrypt-hash', 0,
                   'user' || {pad('i', 6)}
            FROM {series(users)} WHERE NOT EXISTS
              (SELECT 1 FROM users WHERE id = 'seeded-user-' || {pad('i', 6)})""",
        """INSERT INTO user_roles (user_id, role)
            SELECT id, 'bench' FROM users WHERE id LIKE 'seeded-user-%'
              AND NOT EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = users.id)""",
        f"""INSERT INTO clients (id, name, secret_hash, redirect_uris, grant_types, scopes,
                                 created_at, updated_at, introspect, post_logout_redirect_uris)
            SELECT 'seeded-client-' || {pad('i', 6)}, 'app ' || {pad('i', 6)}, NULL,
                   'https://app' || {pad('i', 6)} || '.example/cb', 'authorization_code refresh_token',
                   'bench:read', 0, 0, false, ''
            FROM {series(clients)} WHERE NOT EXISTS
              (SELECT 1 FROM clients WHERE id = 'seeded-client-' || {pad('i', 6)})""",
    ]

if url.startswith("sqlite://"):
    import sqlite3
    pad = lambda col, n: f"printf('%0{n}d', {col})"
    series = lambda n: (f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) "
                        "SELECT i FROM s)")
    db = sqlite3.connect(url[len("sqlite://"):], timeout=30)
    db.execute("INSERT OR IGNORE INTO roles (name, scopes, created_at) VALUES ('bench', 'bench:read', 0)")
    for sql in statements(series):
        db.execute(sql)
    db.commit()
    db.execute("ANALYZE")
    db.close()
else:
    pad = lambda col, n: f"lpad({col}::text, {n}, '0')"
    series = lambda n: f"generate_series(1, {n}) AS s(i)"
    sql = ["INSERT INTO roles (name, scopes, created_at) VALUES ('bench', 'bench:read', 0) ON CONFLICT DO NOTHING"]
    sql += statements(series) + ["ANALYZE users", "ANALYZE user_roles", "ANALYZE clients"]
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url], input=";\n".join(sql) + ";\n",
                   text=True, check=True)
