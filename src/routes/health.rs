//! Liveness and readiness probes.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::oauth::discovery::Discovery;

/// 200 while the process runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// 200 only while the database answers.
pub async fn readyz(discovery: web::Data<Discovery>) -> HttpResponse {
    match discovery.database_answers().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(cause) => {
            tracing::warn!(error = %cause, "readiness check failed");
            HttpResponse::ServiceUnavailable().json(json!({ "status": "database unavailable" }))
        }
    }
}
