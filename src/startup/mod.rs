//! Building the server from settings: open the database, check the key-encryption key,
//! load the signing and sealing keys, bind, serve; the background tasks are in
//! `background.rs`.

mod background;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};

use crate::accounts::login::LoginService;
use crate::accounts::login_attempts::LoginLimits;
use crate::accounts::password::{PasswordChecker, QueueLimits};
use crate::accounts::self_service::SelfService;
use crate::admin::account::AccountService;
use crate::admin::api::AdminApi;
use crate::admin::console::Console;
use crate::admin::registration::Registration;
use crate::admin::PasswordRules;
use crate::domain::Clock;
use crate::metrics::Metrics;
use crate::oauth::authorization::Rules;
use crate::oauth::authorization_service::AuthorizationService;
use crate::oauth::client_auth::ClientAuthenticator;
use crate::oauth::client_throttle::ClientGuard;
use crate::oauth::discovery::Discovery;
use crate::oauth::end_session::EndSession;
use crate::oauth::issuer::Minter;
use crate::oauth::pkce::PkcePolicy;
use crate::oauth::request::{BodyLimit, BodyReadTimeout, TrustForwardedFor};
use crate::oauth::revoked_here::RevokedHere;
use crate::oauth::sessions::SessionPolicy;
use crate::oauth::token_endpoints::TokenEndpoints;
use crate::oauth::userinfo::UserInfoEndpoint;
use crate::routes;
use crate::settings::Settings;
use crate::storage::migrations::one_start_at_a_time;
use crate::storage::security_events::EventKind;
use crate::storage::{Database, DatabaseUrl, PoolOptions, StorageError};
use crate::telemetry::{self, Scrape};
use crate::tokens::at_rest;
use crate::tokens::kek::KekError;
use crate::tokens::keys::{Keyring, Schedule};
use crate::tokens::sealing::SealingKeys;
use crate::web::brand::{self, Brand, BrandError};
use crate::web::pages::ScopeDescriptions;
use crate::web::session::BrowserSessions;
use background::{spawn_housekeeping, spawn_key_refresh, spawn_wal_checkpoints};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Keys(#[from] KekError),
    #[error(transparent)]
    Brand(#[from] BrandError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Pool settings from the configuration.
pub fn pool_options(settings: &Settings) -> PoolOptions {
    PoolOptions {
        max_connections: settings.database.max_connections,
        busy_timeout_ms: settings.database.sqlite_busy_timeout_ms,
        connect_timeout: Duration::from_millis(settings.database.connect_timeout_ms),
    }
}

pub struct Application {
    addr: SocketAddr,
    issuer: String,
    server: Server,
    /// `/metrics` on a listener of its own, when configured.
    metrics: Option<(SocketAddr, Server)>,
}

impl Application {
    /// Opens storage, binds the listener (port 0 picks a free port) and prepares the server.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Clock::default()).await
    }

    /// As `build`, with the clock every expiry rule reads (tests move it forward).
    pub async fn build_with_clock(settings: Settings, clock: Clock) -> Result<Self, StartupError> {
        let ttl = settings.tokens.access_token_ttl_secs;
        let (db, keyring, sealing_keys) = {
            let settings = settings.clone();
            let now = clock.now();
            web::block(move || -> Result<_, StartupError> {
                let db = Database::open(&settings.database.url, &pool_options(&settings))?;
                let url = DatabaseUrl::parse(&settings.database.url)?;
                // Instances started side by side on a fresh database take turns here, so the
                // first makes the signing and sealing keys and the others load them; racing,
                // each made a signing key of its own and signed with it until its first key
                // refresh, and the extra keys stayed published until the next rotation.
                let (keyring, sealing_keys) =
                    one_start_at_a_time(&mut *db.connection()?, |conn| {
                        let opened = at_rest::open(conn, &settings.keys, &url)?;
                        opened.log();
                        let kek = opened.kek;
                        let keyring = Keyring::load(conn, kek.clone(), ttl, now)?;
                        let sealing_keys = SealingKeys::load(conn, kek, now)?;
                        Ok::<_, StartupError>((keyring, sealing_keys))
                    })?;
                Ok((db, keyring, sealing_keys))
            })
            .await
            .map_err(|_| StorageError::Canceled)??
        };
        let metrics = Arc::new(Metrics::new());
        metrics.expect_security_events(EventKind::DETECTIONS.map(EventKind::as_str));
        let db = db.observed_by(metrics.clone());

        let listener = bind(&settings.server.listen)?;
        let addr = listener.local_addr()?;
        let metrics_listener = match settings.server.metrics_listen.as_str() {
            "" => None,
            own => Some(bind(own)?),
        };
        let issuer = match settings.server.issuer.trim_end_matches('/') {
            "" => format!("http://{addr}"),
            configured => configured.to_owned(),
        };
        let audience = match settings.tokens.audience.as_str() {
            "" => issuer.clone(),
            configured => configured.to_owned(),
        };
        let keyring = Arc::new(keyring);
        let sealing = Arc::new(sealing_keys);
        let schedule = Schedule::of(&settings.tokens);
        spawn_key_refresh(db.clone(), clock.clone(), keyring.clone(), schedule);
        spawn_housekeeping(db.clone(), clock.clone(), &settings, metrics.clone());
        if matches!(
            DatabaseUrl::parse(&settings.database.url)?,
            DatabaseUrl::SqliteFile(_)
        ) {
            spawn_wal_checkpoints(db.clone());
        }

        let client_guard =
            ClientGuard::new(settings.limits.policy(settings.limits.client_auth_failures));

        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let password_threads = match settings.accounts.password_hash_threads {
            0 => (cores / 2).max(1),
            n => n,
        };
        let limits = &settings.limits;
        let passwords = PasswordChecker::start(
            password_threads,
            settings.accounts.bcrypt_cost,
            QueueLimits {
                total: settings.accounts.password_queue_limit,
                per_account: limits.password_checks_per_account,
                per_address: limits.password_checks_per_address,
            },
        );
        let login_limits = LoginLimits {
            account: limits.policy(limits.login_failures_per_account),
            ip: limits.policy(limits.login_failures_per_ip),
            known_address_secs: limits.known_address_days * 86400,
        };
        let login = Arc::new(LoginService::new(
            db.clone(),
            passwords,
            login_limits,
            sealing.clone(),
        ));
        let self_service = web::Data::new(SelfService::new(db.clone(), sealing.clone()));
        let t = &settings.tokens;
        let authorization = web::Data::new(AuthorizationService::new(
            db.clone(),
            sealing.clone(),
            issuer.clone(),
            Rules {
                code_ttl: t.authorization_code_ttl_secs,
                pkce: PkcePolicy {
                    required_for_confidential_clients: t.pkce_required_for_confidential_clients,
                },
            },
        ));
        let browser = web::Data::new(BrowserSessions::new(
            sealing.clone(),
            settings.accounts.login_session_ttl_secs,
            issuer.starts_with("https://"),
            db.clone(),
            clock.clone(),
        ));
        let descriptions = web::Data::new(ScopeDescriptions(settings.scopes.descriptions.clone()));
        let brand = web::Data::new(Brand::load(&settings.ui)?);
        let minter = Arc::new(Minter {
            issuer: issuer.clone(),
            audience,
            access_token_ttl_secs: ttl,
            keyring,
        });
        let revoked = Arc::new(RevokedHere::default());
        let userinfo = web::Data::new(UserInfoEndpoint::new(
            db.clone(),
            minter.clone(),
            clock.clone(),
            revoked.clone(),
        ));
        let end_session = web::Data::new(EndSession::new(db.clone(), minter.clone()));
        let admin_api = web::Data::new(AdminApi::new(
            db.clone(),
            minter.clone(),
            clock.clone(),
            PasswordRules {
                bcrypt_cost: settings.accounts.bcrypt_cost,
                min_length: settings.accounts.min_password_length,
            },
        ));
        let console = web::Data::new(Console::new(db.clone()));
        let password_rules = web::Data::new(PasswordRules {
            bcrypt_cost: settings.accounts.bcrypt_cost,
            min_length: settings.accounts.min_password_length,
        });
        let registration = web::Data::new(Registration::new(
            db.clone(),
            minter.clone(),
            clock.clone(),
            format!("{issuer}{}/", routes::REGISTRATION_PATH),
        ));
        let tokens = web::Data::new(TokenEndpoints {
            db: db.clone(),
            keys: sealing.clone(),
            minter,
            clock: clock.clone(),
            sessions: SessionPolicy {
                idle_ttl: t.refresh_token_idle_ttl_secs,
                absolute_ttl: t.refresh_token_absolute_ttl_secs,
                grace: t.refresh_token_grace_secs,
            },
            clients: ClientAuthenticator::new(client_guard),
            login: login.clone(),
            revoked,
        });
        let account = web::Data::new(AccountService::new(
            db.clone(),
            login.clone(),
            self_service.clone().into_inner(),
            PasswordRules {
                bcrypt_cost: settings.accounts.bcrypt_cost,
                min_length: settings.accounts.min_password_length,
            },
        ));
        let scrape = web::Data::new(Scrape::new(metrics.clone(), db.clone(), login.clone()));
        let login = web::Data::from(login);
        let discovery = web::Data::new(Discovery::new(
            db,
            clock,
            issuer.clone(),
            schedule.jwks_max_age_secs,
        ));
        let body_limit = BodyLimit(settings.server.body_limit_bytes);
        let read_timeout = Duration::from_millis(settings.server.body_read_timeout_ms);
        let body_read_timeout = BodyReadTimeout(read_timeout);
        let forwarded = TrustForwardedFor(settings.server.trust_forwarded_for);
        let metrics_here = metrics_listener.is_none();
        let metrics_data = web::Data::from(metrics);
        let metrics_scrape = scrape.clone();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(crate::web::headers::defaults())
                .wrap(from_fn(brand::scope))
                .wrap(from_fn(telemetry::log_request))
                .app_data(tokens.clone())
                .app_data(userinfo.clone())
                .app_data(end_session.clone())
                .app_data(registration.clone())
                .app_data(admin_api.clone())
                .app_data(console.clone())
                .app_data(password_rules.clone())
                .app_data(login.clone())
                .app_data(self_service.clone())
                .app_data(account.clone())
                .app_data(discovery.clone())
                .app_data(authorization.clone())
                .app_data(descriptions.clone())
                .app_data(brand.clone())
                .app_data(browser.clone())
                .app_data(body_limit)
                .app_data(body_read_timeout)
                .app_data(forwarded)
                .app_data(metrics_data.clone())
                .app_data(scrape.clone())
                .configure(routes::configure)
                .configure(|cfg| {
                    if metrics_here {
                        routes::metrics_route(cfg)
                    }
                })
        });
        let (workers, blocking) = thread_counts(&settings);
        let server = server
            // The request head of a new connection gets the same time as a body (actix
            // answers 408 itself); a closing connection gets a second to finish, not more.
            .client_request_timeout(read_timeout)
            .client_disconnect_timeout(Duration::from_secs(1))
            // SIGTERM: stop accepting, let what is in flight finish within the grace.
            .shutdown_timeout(settings.server.shutdown_grace_secs)
            .workers(workers)
            .worker_max_blocking_threads(blocking)
            .listen(listener)?
            .run();
        tracing::info!(address = %addr, issuer = %issuer, workers, blocking_threads_per_worker = blocking, "gatehouse listening");
        let metrics = match metrics_listener {
            None => None,
            Some(listener) => {
                let addr = listener.local_addr()?;
                let server = HttpServer::new(move || {
                    App::new()
                        .wrap(crate::web::headers::defaults())
                        .app_data(metrics_scrape.clone())
                        .configure(routes::metrics_route)
                })
                .workers(1)
                // Scraped while the main server drains; stopped when it is done.
                .disable_signals()
                .listen(listener)?
                .run();
                tracing::info!(address = %addr, "metrics listening");
                Some((addr, server))
            }
        };
        Ok(Application {
            addr,
            issuer,
            server,
            metrics,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The port of `/metrics`'s own listener, when `server.metrics_listen` gives it one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(addr, _)| addr.port())
    }

    /// Serves until the main server stops (SIGTERM, SIGINT); the metrics listener, if any,
    /// stops with it.
    pub async fn run_until_stopped(self) -> Result<(), StartupError> {
        let Some((_, metrics)) = self.metrics else {
            return Ok(self.server.await?);
        };
        let handle = metrics.handle();
        let metrics = actix_web::rt::spawn(metrics);
        let served = self.server.await;
        handle.stop(true).await;
        if let Ok(Err(e)) = metrics.await {
            tracing::warn!(error = %e, "the metrics listener failed");
        }
        Ok(served?)
    }
}

fn bind(addr: &str) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr).map_err(|source| StartupError::Bind {
        addr: addr.to_owned(),
        source,
    })
}

/// HTTP workers and blocking threads per worker; 0 in the settings means "auto".
///
/// A client-credentials request for a client in memory runs entirely on its HTTP worker, so
/// there is one worker per core; the blocking pool (database, and the rest of the grants)
/// keeps about twice the cores in all. Dozens of blocking threads mostly switched context
/// (BENCHMARKS.md).
fn thread_counts(settings: &Settings) -> (usize, usize) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = match settings.server.workers {
        0 => cores,
        n => n,
    };
    let blocking = match settings.server.blocking_threads {
        0 => (2 * cores / workers).max(1),
        n => n,
    };
    (workers, blocking)
}
