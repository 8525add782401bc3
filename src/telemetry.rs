//! Logging: tracing to stderr, one line per request.
//!
//! Request lines carry method, path (never the query string, which may hold codes or
//! tokens), status and latency; no handler logs a secret, password or token.

use std::io::IsTerminal;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use tracing_subscriber::EnvFilter;

use crate::settings::{LogFormat, LogSettings};

/// Installs the global subscriber. The returned guard flushes buffered lines on drop.
pub fn init(log: &LogSettings) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = EnvFilter::try_new(&log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
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
    let status = match &response {
        Ok(res) => res.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    tracing::info!(
        method = %method,
        path = ?path,
        status,
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}
