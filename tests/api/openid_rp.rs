//! A real relying party: the `openidconnect` crate signs a user in through gatehouse exactly
//! as an app would — discovery, an authorization URL with PKCE and a nonce, the browser's
//! login and consent, the code exchange, id_token verification (signature, `iss`, `aud`,
//! `exp`, nonce, `at_hash`), userinfo, a refresh, and RP-Initiated Logout back to the app.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, Scope, TokenResponse,
};

use crate::authorization_code::PASSWORD;
use crate::browser::{query_param, Browser};
use crate::helpers::on_both_backends;

use crate::openid::{REDIRECT, SIGNED_OUT};

/// The relying party's HTTP client: no redirects followed (the `openidconnect` crate's own
/// advice, against SSRF).
fn http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

on_both_backends! {
    async fn the_openidconnect_crate_signs_a_user_in_refreshes_and_signs_out(db) {
        let crate::openid::Oidc { app, client, user_id } = crate::openid::setup(db).await;
        let (client_id, secret) = (client.id, client.secret);
        let http = http();
        let issuer = IssuerUrl::new(app.issuer.clone()).unwrap();

        // Discovery, as every OpenID library starts.
        let metadata = CoreProviderMetadata::discover_async(issuer.clone(), &http)
            .await
            .expect("discovery");
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.clone()),
            Some(ClientSecret::new(secret)),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());

        // The authorization URL, with PKCE and a nonce.
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();

        // The user, in the browser: login, consent, back to the app.
        let browser = Browser::new(&app);
        let login = browser.open(url.as_str()).await.page();
        let consent = crate::authorization_code::log_in(&browser, &login, "alice", PASSWORD)
            .await
            .page();
        assert!(consent.contains("test client"), "{}", consent.body);
        let back = browser
            .submit(&consent.form_with("csrf_token"), Some("allow"))
            .await
            .left();
        assert_eq!(query_param(&back, "state").as_deref(), Some(state.secret().as_str()));
        assert_eq!(query_param(&back, "iss").as_deref(), Some(app.issuer.as_str()), "RFC 9207");
        let code = query_param(&back, "code").expect("a code");

        // The exchange and the id_token, verified as the library verifies it.
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .expect("code exchange");
        let id_token = tokens.id_token().expect("an id_token with openid");
        let id_verifier = client.id_token_verifier();
        let claims = id_token.claims(&id_verifier, &nonce).expect("a valid id_token");
        assert_eq!(claims.subject().as_str(), user_id);
        assert_eq!(claims.issuer().as_str(), app.issuer);
        assert_eq!(claims.audiences().len(), 1);
        assert_eq!(claims.audiences()[0].as_str(), client_id);
        let hash = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&id_verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(claims.access_token_hash(), Some(&hash), "at_hash binds the access token");
        assert_eq!(
            claims.preferred_username().map(|u| u.as_str()),
            Some("alice")
        );
        assert_eq!(
            claims.email().map(|e| e.as_str()),
            Some("alice@example.com")
        );
        assert_eq!(claims.email_verified(), Some(false));
        let name = claims.name().and_then(|n| n.get(None)).map(|n| n.as_str());
        assert_eq!(name, Some("Alice Liddell"));
        let amr: Vec<String> = claims
            .auth_method_refs()
            .unwrap()
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect();
        assert_eq!(amr, ["pwd"]);
        let auth_time = claims.auth_time().expect("auth_time");

        // Userinfo, for the same subject.
        let info: CoreUserInfoClaims = client
            .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
            .unwrap()
            .request_async(&http)
            .await
            .expect("userinfo");
        assert_eq!(info.subject().as_str(), user_id);
        assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.com"));
        assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("alice"));

        // A refresh: a new id_token, same `sub` and `auth_time`, no nonce.
        let refreshed = client
            .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
            .unwrap()
            .request_async(&http)
            .await
            .expect("refresh");
        let again = refreshed.id_token().expect("an id_token on refresh");
        let no_nonce = |n: Option<&Nonce>| match n {
            None => Ok(()),
            Some(_) => Err("a refreshed id_token carries no nonce".to_owned()),
        };
        let claims2 = again.claims(&id_verifier, no_nonce).expect("a valid id_token");
        assert_eq!(claims2.subject(), claims.subject());
        assert_eq!(claims2.auth_time(), Some(auth_time));

        // RP-Initiated Logout, back to the app's registered page.
        let with_logout = ProviderMetadataWithLogout::discover_async(issuer, &http)
            .await
            .expect("discovery with logout");
        let end_session = with_logout
            .additional_metadata()
            .end_session_endpoint
            .clone()
            .expect("end_session_endpoint");
        let logout = LogoutRequest::from(end_session)
            .set_id_token_hint(again)
            .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(SIGNED_OUT.into()).unwrap())
            .set_state(CsrfToken::new("bye".into()))
            .http_get_url();
        let left = browser.open(logout.as_str()).await.left();
        assert_eq!(left.as_str(), format!("{SIGNED_OUT}?state=bye"));

        // Signed out: the app's next sign-in asks for the password again.
        let (url, _, _) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(PkceCodeChallenge::new_random_sha256().0)
            .url();
        let page = browser.open(url.as_str()).await.page();
        assert!(page.body.contains("name=\"password\""), "{}", page.body);
    }
}
