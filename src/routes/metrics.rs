//! `GET /metrics`: the Prometheus text format (`telemetry::Scrape`), on the main listener
//! or, with `server.metrics_listen`, only on a listener of its own.

use actix_web::{web, HttpResponse};

use crate::metrics::CONTENT_TYPE;
use crate::telemetry::Scrape;

pub const METRICS_PATH: &str = "/metrics";

pub async fn metrics(scrape: web::Data<Scrape>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(scrape.render())
}
