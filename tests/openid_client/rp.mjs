// panva's openid-client, an OpenID Certified relying party library, signs a user in through
// gatehouse: discovery, an authorization URL with PKCE, a nonce and a state, the browser's
// login and consent (tests/readme_browser.py), the code exchange with the id_token checked
// by the library (signature, iss, aud, exp, nonce, and RFC 9207's iss in the response),
// userinfo, a refresh, and the end-session URL. Usage:
//   node rp.mjs ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD
import { execFileSync } from "node:child_process";
import assert from "node:assert/strict";
import * as client from "openid-client";

const [issuer, clientId, clientSecret, redirectUri, username, password] = process.argv.slice(2);
const browser = new URL("../readme_browser.py", import.meta.url).pathname;

// gatehouse runs on http://127.0.0.1 here; the library refuses plain HTTP unless told.
const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined, {
  execute: [client.allowInsecureRequests],
});
const verifier = client.randomPKCECodeVerifier();
const nonce = client.randomNonce();
const state = client.randomState();
const authorize = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: "openid profile email",
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: "S256",
  nonce,
  state,
});
const back = execFileSync("python3", [browser, "--redirect", authorize.href, username, password])
  .toString()
  .trim();

const tokens = await client.authorizationCodeGrant(config, new URL(back), {
  pkceCodeVerifier: verifier,
  expectedNonce: nonce,
  expectedState: state,
  idTokenExpected: true,
});
const claims = tokens.claims();
assert.equal(claims.iss, issuer);
assert.equal(claims.aud, clientId);
assert.equal(claims.nonce, nonce);
assert.equal(claims.preferred_username, username);
assert.ok(claims.auth_time > 0 && claims.sid && claims.at_hash);

const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
assert.equal(info.sub, claims.sub);
assert.equal(info.preferred_username, username);

const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
const again = refreshed.claims();
assert.equal(again.sub, claims.sub);
assert.equal(again.auth_time, claims.auth_time);
assert.equal(again.nonce, undefined);

const end = client.buildEndSessionUrl(config, {
  id_token_hint: refreshed.id_token,
  post_logout_redirect_uri: redirectUri,
  state: "bye",
});
assert.equal(end.origin + end.pathname, `${issuer}/end_session`);
console.log(`openid-client: signed in as ${username}, userinfo, refresh, end-session URL: ok`);
