//! Liveness and readiness probes.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::startup::AppState;

/// 200 while the process runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// 200 only while the database answers.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.db.clone();
    match web::block(move || db.ping(Duration::from_secs(2))).await {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({ "status": "database unavailable" }))
        }
        Err(_) => HttpResponse::ServiceUnavailable().json(json!({ "status": "shutting down" })),
    }
}
