//! Logging: tracing to stderr, one line per request.
//!
//! Request lines carry method, path (never the query string, which may hold codes or
//! tokens), status and latency, and for a server error its cause: errors are logged here,
//! once, not where they are built. No handler logs a secret, password or token.

use std::io::IsTerminal;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use tracing_subscriber::EnvFilter;

use crate::domain::OAuthError;
use crate::settings::{LogFormat, LogSettings};

/// Installs the global subscriber. The returned guard flushes buffered lines on drop.
pub fn init(log: &LogSettings) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = EnvFilter::try_new(&log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    // The writer thread gets lines in batches under load: buffered, one write per batch
    // instead of one per line, flushed whenever the queue runs empty (so an idle server's
    // lines still appear at once).
    let stderr = std::io::BufWriter::with_capacity(64 * 1024, std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking(stderr);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let _ = match log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    guard
}

/// Logs one line per request.
pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    // Debug formatting escapes control characters a hostile path might carry.
    let path: String = req.path().chars().take(200).collect();
    let response = next.call(req).await;
    let (status, cause) = match &response {
        Ok(res) => (
            res.status().as_u16(),
            res.response().error().and_then(cause_of),
        ),
        Err(e) => (e.as_response_error().status_code().as_u16(), cause_of(e)),
    };
    match cause {
        // A server error's cause is logged here, once, on the request's own line.
        Some(cause) => tracing::error!(
            method = %method,
            path = ?path,
            status,
            latency_us = started.elapsed().as_micros() as u64,
            error = cause,
            "request failed"
        ),
        None => tracing::info!(
            method = %method,
            path = ?path,
            status,
            latency_us = started.elapsed().as_micros() as u64,
            "request"
        ),
    }
    response
}

/// The operator-facing cause carried by a server error, if the error is one of ours.
fn cause_of(e: &actix_web::Error) -> Option<&str> {
    match e.as_error::<OAuthError>() {
        Some(e) => e.cause(),
        None => match e.as_error::<crate::admin::api::ApiError>() {
            Some(e) => e.cause(),
            None => e
                .as_error::<crate::admin::registration::RegistrationError>()
                .and_then(|e| e.cause()),
        },
    }
}
