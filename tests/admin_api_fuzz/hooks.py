"""schemathesis hooks for tests/admin_api_fuzz.sh: a fresh admin token every two seconds.

The fuzzer may delete or edit the very client whose token it uses (it finds the id in a
list it fetched); a fresh client, registered with the CLI, keeps it an admin for the rest
of the run instead of locking it out.
"""
import base64
import json
import os
import subprocess
import urllib.parse
import urllib.request

import schemathesis

GATEHOUSE = os.environ["FUZZ_GATEHOUSE"]
ISSUER = os.environ["GATEHOUSE_ISSUER"]


def fresh_admin_token():
    created = subprocess.run(
        [GATEHOUSE, "client", "create", "--name", "fuzzer", "--grant-type", "client_credentials",
         "--scope", "gatehouse:admin", "--json"],
        check=True, capture_output=True, text=True,
    )
    client = json.loads(created.stdout)
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "gatehouse:admin"})
    request = urllib.request.Request(ISSUER + "/token", data=body.encode())
    basic = f"{client['client_id']}:{client['client_secret']}".encode()

    request.add_header("Authorization", "Basic " + base64.b64encode(basic).decode())
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)["access_token"]


@schemathesis.auth(refresh_interval=2)
class AdminToken:
    def get(self, case, ctx):
        return fresh_admin_token()

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
