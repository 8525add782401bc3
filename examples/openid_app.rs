//! A web app that signs its users in with gatehouse over OpenID Connect, built on the
//! `openidconnect` crate as any relying party would be:
//!
//!   GET /            a "Sign in with gatehouse" link
//!   GET /login       to gatehouse's authorization endpoint (PKCE S256, a nonce, a state)
//!   GET /callback    the code exchanged, the id_token verified, userinfo asked; both shown
//!   GET /logout      RP-Initiated Logout: to gatehouse's end-session endpoint and back
//!   GET /signed-out  where gatehouse sends the browser afterwards
//!
//! Register it and run it (README, "Quick start: Sign in with gatehouse"):
//!
//!   gatehouse client create --name "Example app" --redirect-uri http://127.0.0.1:8082/callback \
//!     --post-logout-redirect-uri http://127.0.0.1:8082/signed-out \
//!     --scope openid --scope profile --scope email
//!   OPENID_APP_CLIENT_ID=… OPENID_APP_CLIENT_SECRET=… cargo run --example openid_app
//!
//! Environment: GATEHOUSE_ISSUER (default http://127.0.0.1:8080), OPENID_APP_CLIENT_ID,
//! OPENID_APP_CLIENT_SECRET, OPENID_APP_LISTEN (default 127.0.0.1:8082).

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet,
    EndpointNotSet, EndpointSet, IssuerUrl, LogoutRequest, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout,
    RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;

/// The client as discovery configures it: authorization URL set, token and userinfo URLs
/// from the discovery document.
type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

const COOKIE: &str = "openid_app";

/// The app: its OpenID client, and what it remembers between the browser's visits.
pub struct RelyingParty {
    client: Client,
    http: openidconnect::reqwest::Client,
    end_session: Option<url::Url>,
    /// The app's own address, for the post-logout URI.
    base: String,
    /// Per `state`: the PKCE verifier and the nonce of a sign-in under way.
    started: Mutex<HashMap<String, (PkceCodeVerifier, Nonce)>>,
    /// Per browser (the app's cookie): the id_token, for signing out.
    signed_in: Mutex<HashMap<String, CoreIdToken>>,
}

impl RelyingParty {
    /// Discovers gatehouse at `issuer` and configures the app at `base` (`http://host:port`).
    pub async fn discover(
        issuer: &str,
        client_id: &str,
        client_secret: &str,
        base: &str,
    ) -> Result<Self, String> {
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let issuer = IssuerUrl::new(issuer.to_owned()).map_err(|e| e.to_string())?;
        let metadata = CoreProviderMetadata::discover_async(issuer.clone(), &http)
            .await
            .map_err(|e| format!("discovery failed: {e}"))?;
        let logout = ProviderMetadataWithLogout::discover_async(issuer, &http)
            .await
            .map_err(|e| format!("discovery failed: {e}"))?;
        let redirect = RedirectUrl::new(format!("{base}/callback")).map_err(|e| e.to_string())?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.to_owned()),
            Some(ClientSecret::new(client_secret.to_owned())),
        )
        .set_redirect_uri(redirect);
        Ok(RelyingParty {
            client,
            http,
            end_session: logout
                .additional_metadata()
                .end_session_endpoint
                .as_ref()
                .map(|u| u.url().clone()),
            base: base.to_owned(),
            started: Mutex::default(),
            signed_in: Mutex::default(),
        })
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/login", web::get().to(login))
        .route("/callback", web::get().to(callback))
        .route("/logout", web::get().to(logout))
        .route("/signed-out", web::get().to(signed_out));
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width\"><title>{t}</title></head>\
             <body><h1>{t}</h1>{body}</body></html>",
            t = escape(title)
        ))
}

async fn home() -> HttpResponse {
    page(
        "Example app",
        "<p><a id=\"sign-in\" href=\"/login\">Sign in with gatehouse</a></p>",
    )
}

async fn login(rp: web::Data<RelyingParty>) -> HttpResponse {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    rp.started
        .lock()
        .unwrap()
        .insert(state.secret().clone(), (verifier, nonce));
    HttpResponse::Found()
        .insert_header(("Location", url.to_string()))
        .finish()
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(rp: web::Data<RelyingParty>, query: web::Query<Callback>) -> HttpResponse {
    if let Some(error) = &query.error {
        let why = query.error_description.as_deref().unwrap_or("");
        return page(
            "Not signed in",
            &format!("<p>{}: {}</p>", escape(error), escape(why)),
        );
    }
    let started = query
        .state
        .as_ref()
        .and_then(|s| rp.started.lock().unwrap().remove(s));
    let (Some(code), Some((verifier, nonce))) = (&query.code, started) else {
        return page("Not signed in", "<p>This sign-in was not started here.</p>");
    };
    match finish(&rp, code, verifier, &nonce).await {
        Ok((id_token, claims, info)) => {
            let session = CsrfToken::new_random().secret().clone();
            rp.signed_in
                .lock()
                .unwrap()
                .insert(session.clone(), id_token);
            let mut response = page(
                "Signed in",
                &format!(
                    "<p>The id_token is verified. Its claims:</p><pre id=\"id-token\">{}</pre>\
                     <p>Userinfo says:</p><pre id=\"userinfo\">{}</pre>\
                     <p><a id=\"sign-out\" href=\"/logout\">Sign out</a></p>",
                    escape(&claims),
                    escape(&info)
                ),
            );
            let cookie = Cookie::build(COOKIE, session)
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .finish();
            let _ = response.add_cookie(&cookie);
            response
        }
        Err(why) => page("Not signed in", &format!("<p>{}</p>", escape(&why))),
    }
}

/// The code exchanged, the id_token verified (signature, issuer, audience, expiry, nonce and
/// `at_hash`), and userinfo asked for the same subject.
async fn finish(
    rp: &RelyingParty,
    code: &str,
    verifier: PkceCodeVerifier,
    nonce: &Nonce,
) -> Result<(CoreIdToken, String, String), String> {
    let tokens = rp
        .client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(verifier)
        .request_async(&rp.http)
        .await
        .map_err(|e| format!("the code exchange failed: {e}"))?;
    let id_token = tokens.id_token().ok_or("no id_token")?.clone();
    let id_verifier = rp.client.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, nonce)
        .map_err(|e| format!("the id_token is not valid: {e}"))?;
    let alg = id_token.signing_alg().map_err(|e| e.to_string())?;
    let key = id_token
        .signing_key(&id_verifier)
        .map_err(|e| e.to_string())?;
    let expected =
        AccessTokenHash::from_token(tokens.access_token(), alg, key).map_err(|e| e.to_string())?;
    if claims.access_token_hash() != Some(&expected) {
        return Err("the id_token's at_hash does not match the access token".into());
    }
    let info: CoreUserInfoClaims = rp
        .client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .map_err(|e| e.to_string())?
        .request_async(&rp.http)
        .await
        .map_err(|e| format!("userinfo failed: {e}"))?;
    let pretty = |json: serde_json::Result<String>| json.unwrap_or_default();
    Ok((
        id_token.clone(),
        pretty(serde_json::to_string_pretty(claims)),
        pretty(serde_json::to_string_pretty(&info)),
    ))
}

async fn logout(rp: web::Data<RelyingParty>, req: HttpRequest) -> HttpResponse {
    let id_token = req
        .cookie(COOKIE)
        .and_then(|c| rp.signed_in.lock().unwrap().remove(c.value()));
    let (Some(end_session), Some(id_token)) = (&rp.end_session, id_token) else {
        return page("Signed out", "<p><a href=\"/\">Home</a></p>");
    };
    let back = PostLogoutRedirectUrl::new(format!("{}/signed-out", rp.base)).expect("a URL");
    let url = LogoutRequest::from(openidconnect::EndSessionUrl::from_url(end_session.clone()))
        .set_id_token_hint(&id_token)
        .set_post_logout_redirect_uri(back)
        .set_state(CsrfToken::new_random())
        .http_get_url();
    HttpResponse::Found()
        .insert_header(("Location", url.to_string()))
        .cookie(
            Cookie::build(COOKIE, "")
                .path("/")
                .max_age(actix_web::cookie::time::Duration::ZERO)
                .finish(),
        )
        .finish()
}

async fn signed_out() -> HttpResponse {
    page(
        "Signed out",
        "<p id=\"signed-out\">You are signed out of the app and of gatehouse.</p>\
         <p><a href=\"/login\">Sign in again</a></p>",
    )
}

#[allow(dead_code)] // also compiled into the tests, which start the app themselves
#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let issuer =
        std::env::var("GATEHOUSE_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let listen = std::env::var("OPENID_APP_LISTEN").unwrap_or_else(|_| "127.0.0.1:8082".into());
    let var = |name: &str| {
        std::env::var(name).map_err(|_| {
            std::io::Error::other(format!("set {name} (see `gatehouse client create`)"))
        })
    };
    let (id, secret) = (
        var("OPENID_APP_CLIENT_ID")?,
        var("OPENID_APP_CLIENT_SECRET")?,
    );
    let rp = RelyingParty::discover(&issuer, &id, &secret, &format!("http://{listen}"))
        .await
        .map_err(|e| std::io::Error::other(format!("cannot use gatehouse at {issuer}: {e}")))?;
    let rp = web::Data::new(rp);
    println!("example app on http://{listen}, signing in with {issuer}");
    HttpServer::new(move || App::new().app_data(rp.clone()).configure(configure))
        .bind(listen)?
        .run()
        .await
}
