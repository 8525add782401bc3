//! HTTP: one module per endpoint family, and the whole route table in [`configure`].

mod account;
mod admin_api;
mod authorize;
mod consent;
mod console;
mod end_session;
mod health;
mod jwks;
mod login;
mod metadata;
mod metrics;
mod registration;
mod token;
mod userinfo;

use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse};

use crate::oauth::OAuthError;
use crate::web::brand::{self, Brand};
use crate::web::cors;

pub use crate::web::paths::AUTHORIZE_PATH;
pub use crate::web::paths::END_SESSION_PATH;
use crate::web::paths::{
    ACCOUNT_PASSWORD_PATH, ACCOUNT_PATH, ACCOUNT_RECOVERY_CODES_PATH, ACCOUNT_REVOKE_APP_PATH,
    ACCOUNT_SIGN_OUT_EVERYWHERE_PATH, ACCOUNT_TWO_STEP_OFF_PATH, CONSENT_PATH,
    CONSOLE_CLIENTS_PATH, CONSOLE_PATH, CONSOLE_ROLES_PATH, END_SESSION_CONFIRM_PATH, LOGIN_PATH,
    LOGOUT_PATH, RESUME_PATH, SECOND_FACTOR_PATH,
};

pub const TOKEN_PATH: &str = "/token";
pub const INTROSPECTION_PATH: &str = "/introspect";
pub const REVOCATION_PATH: &str = "/revoke";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
pub const OPENID_CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";
pub const USERINFO_PATH: &str = "/userinfo";
/// RFC 7591's `registration_endpoint`; a client's RFC 7592 `registration_client_uri` is
/// this path and its id.
pub const REGISTRATION_PATH: &str = "/register";

/// Answers a wrong method on an OAuth endpoint with an RFC 6749 error instead of a bare 404.
fn only(
    method: &'static str,
) -> impl Fn() -> std::future::Ready<Result<HttpResponse, OAuthError>> + Clone {
    move || std::future::ready(Err(OAuthError::method_not_allowed(method)))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // What a browser app fetches answers CORS (`web::cors`); the pages and /authorize do not.
    let fetched = |path: &str| web::resource(path).wrap(from_fn(cors::cors));
    cfg.service(
        fetched(TOKEN_PATH)
            .route(web::post().to(token::token))
            .default_service(web::to(only("POST"))),
    )
    .service(
        web::resource(INTROSPECTION_PATH)
            .route(web::post().to(token::introspect))
            .default_service(web::to(only("POST"))),
    )
    .service(
        fetched(REVOCATION_PATH)
            .route(web::post().to(token::revoke))
            .default_service(web::to(only("POST"))),
    )
    .route(AUTHORIZE_PATH, web::get().to(authorize::authorize))
    .route(RESUME_PATH, web::get().to(authorize::resume))
    .route(LOGIN_PATH, web::post().to(login::login))
    .route(SECOND_FACTOR_PATH, web::post().to(login::second_factor))
    .route(CONSENT_PATH, web::post().to(consent::consent))
    .route(LOGOUT_PATH, web::post().to(login::logout))
    .route(END_SESSION_PATH, web::get().to(end_session::asked))
    .route(END_SESSION_PATH, web::post().to(end_session::posted))
    .route(
        END_SESSION_CONFIRM_PATH,
        web::post().to(end_session::confirmed),
    )
    .route(ACCOUNT_PATH, web::get().to(account::show))
    .route(ACCOUNT_PATH, web::post().to(account::confirm))
    .route("/account", web::get().to(account::show))
    .route(
        ACCOUNT_PASSWORD_PATH,
        web::post().to(account::change_password),
    )
    .route(ACCOUNT_REVOKE_APP_PATH, web::post().to(account::revoke_app))
    .route(ACCOUNT_TWO_STEP_OFF_PATH, web::post().to(account::turn_off))
    .route(
        ACCOUNT_RECOVERY_CODES_PATH,
        web::post().to(account::renew_recovery_codes),
    )
    .route(
        ACCOUNT_SIGN_OUT_EVERYWHERE_PATH,
        web::post().to(account::sign_out_everywhere),
    )
    .service(
        fetched(USERINFO_PATH)
            .route(web::get().to(userinfo::userinfo))
            .route(web::post().to(userinfo::userinfo))
            .default_service(web::to(only("GET or POST"))),
    )
    .service(fetched(METADATA_PATH).route(web::get().to(metadata::metadata)))
    .service(
        fetched(OPENID_CONFIGURATION_PATH).route(web::get().to(metadata::openid_configuration)),
    )
    .service(fetched(JWKS_PATH).route(web::get().to(jwks::jwks)))
    .service(
        web::resource(REGISTRATION_PATH)
            .route(web::post().to(registration::register))
            .default_service(web::to(only("POST"))),
    )
    .service(
        web::resource(format!("{REGISTRATION_PATH}/{{client_id}}"))
            .route(web::get().to(registration::read))
            .route(web::put().to(registration::replace))
            .route(web::delete().to(registration::delete))
            .default_service(web::to(only("GET, PUT or DELETE"))),
    )
    .configure(admin_routes)
    .route(brand::LOGO_PATH, web::get().to(logo))
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz));
}

/// `GET /metrics`, on the main listener or one of its own (`server.metrics_listen`).
pub fn metrics_route(cfg: &mut web::ServiceConfig) {
    cfg.route(metrics::METRICS_PATH, web::get().to(metrics::metrics));
}

/// The admin API (`routes::admin_api`) and its OpenAPI document.
fn admin_routes(cfg: &mut web::ServiceConfig) {
    use admin_api::*;
    cfg.route(CONSOLE_PATH, web::get().to(console::home))
        .route(CONSOLE_CLIENTS_PATH, web::get().to(console::clients))
        .route(CONSOLE_CLIENTS_PATH, web::post().to(console::register))
        .route("/admin/clients/{id}", web::get().to(console::client))
        .route(
            "/admin/clients/{id}/delete",
            web::post().to(console::delete),
        )
        .route(
            "/admin/clients/{id}/{action}",
            web::post().to(console::client_action),
        )
        .route(CONSOLE_ROLES_PATH, web::get().to(console::roles))
        .route(CONSOLE_ROLES_PATH, web::post().to(console::create_role))
        .route("/admin/roles/{name}", web::get().to(console::role))
        .route(
            "/admin/roles/{name}/{action}",
            web::post().to(console::role_action),
        )
        .route("/admin/users", web::get().to(console::users))
        .route("/admin/users", web::post().to(console::create_user))
        .route("/admin/users/{id}", web::get().to(console::user))
        .route(
            "/admin/users/{id}/{action}",
            web::post().to(console::user_action),
        )
        .route("/admin/openapi.json", web::get().to(openapi))
        .service(
            web::scope("/admin/api")
                .service(
                    web::resource("/users")
                        .route(web::get().to(list_users))
                        .route(web::post().to(create_user)),
                )
                .service(
                    web::resource("/users/{user}")
                        .route(web::get().to(show_user))
                        .route(web::patch().to(update_user))
                        .route(web::delete().to(delete_user)),
                )
                .route("/users/{user}/disable", web::post().to(disable_user))
                .route("/users/{user}/enable", web::post().to(enable_user))
                .route("/users/{user}/password", web::put().to(set_password))
                .service(
                    web::resource("/users/{user}/roles/{role}")
                        .route(web::put().to(add_role))
                        .route(web::delete().to(remove_role)),
                )
                .service(
                    web::resource("/users/{user}/sessions")
                        .route(web::get().to(list_sessions))
                        .route(web::delete().to(revoke_sessions)),
                )
                .route("/users/{user}/totp", web::delete().to(disable_totp))
                .route("/users/{user}/consents", web::get().to(list_consents))
                .route(
                    "/users/{user}/consents/{client_id}",
                    web::delete().to(revoke_consent),
                )
                .service(
                    web::resource("/roles")
                        .route(web::get().to(list_roles))
                        .route(web::post().to(create_role)),
                )
                .service(
                    web::resource("/roles/{role}")
                        .route(web::get().to(show_role))
                        .route(web::put().to(set_role_scopes))
                        .route(web::delete().to(delete_role)),
                )
                .service(
                    web::resource("/clients")
                        .route(web::get().to(list_clients))
                        .route(web::post().to(create_client)),
                )
                .service(
                    web::resource("/clients/{client_id}")
                        .route(web::get().to(show_client))
                        .route(web::patch().to(update_client))
                        .route(web::delete().to(delete_client)),
                )
                .route("/clients/{client_id}/secret", web::post().to(rotate_secret))
                .route("/events", web::get().to(list_events)),
        );
}

/// `GET /admin/openapi.json`: the admin API's document with the registration endpoints',
/// built once.
async fn openapi() -> HttpResponse {
    use utoipa::OpenApi;
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let doc = DOC.get_or_init(|| {
        let mut doc = admin_api::AdminApiDoc::openapi();
        doc.merge(registration::RegistrationDoc::openapi());
        doc.to_json().unwrap_or_default()
    });
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.clone())
}

/// The configured logo (`ui.logo_file`), served from memory.
async fn logo(brand: web::Data<Brand>) -> HttpResponse {
    brand.logo_response()
}
