//! The product name and optional logo on every page (`[ui]` in the configuration), so a team
//! can run gatehouse under its own name.
//!
//! Pages are rendered deep inside handlers that know nothing of the configuration, so the
//! brand travels with the request instead: [`scope`] (a middleware around the whole app) makes
//! it the request's task-local, and the page renderer (`pages.rs`) hands it to every template as the
//! runtime value `brand`. One server process can run several apps with different brands
//! (the tests do), which a process-wide global could not.
//!
//! The logo is read once at start and served from memory at [`LOGO_PATH`], so pages still load
//! nothing from elsewhere. An SVG logo is answered under a CSP that runs no script in it.

use std::path::Path;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use crate::settings::UiSettings;

/// Where the logo is served.
pub const LOGO_PATH: &str = "/branding/logo";
/// The largest logo file accepted: a logo, not a photo album.
pub const MAX_LOGO_BYTES: u64 = 256 * 1024;
/// An SVG is a document that could carry script: shown as an image it runs none, and opened
/// on its own it runs none either.
const LOGO_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// What every page shows of the product.
#[derive(Debug, Clone)]
pub struct Brand {
    pub name: String,
    logo: Option<Logo>,
}

#[derive(Debug, Clone)]
struct Logo {
    /// Shared by every answer, never copied.
    bytes: web::Bytes,
    content_type: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum BrandError {
    #[error("ui.logo_file {path}: cannot read it: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("ui.logo_file {path}: {size} bytes; a logo may have at most {MAX_LOGO_BYTES}")]
    TooLarge { path: String, size: u64 },
    #[error("ui.logo_file {path}: not an image gatehouse serves; use .png, .jpg, .jpeg, .gif, .webp or .svg")]
    Type { path: String },
}

impl Default for Brand {
    fn default() -> Self {
        Brand {
            name: "gatehouse".to_owned(),
            logo: None,
        }
    }
}

impl Brand {
    /// The brand the configuration names, its logo read now.
    pub fn load(ui: &UiSettings) -> Result<Self, BrandError> {
        let logo = match ui.logo_file.trim() {
            "" => None,
            path => Some(read_logo(Path::new(path))?),
        };
        Ok(Brand {
            name: ui.product_name.clone(),
            logo,
        })
    }

    pub fn has_logo(&self) -> bool {
        self.logo.is_some()
    }

    /// `GET /branding/logo`: the logo, cacheable for an hour; 404 when none is configured.
    pub fn logo_response(&self) -> HttpResponse {
        match &self.logo {
            None => HttpResponse::NotFound()
                .content_type("text/plain; charset=utf-8")
                .body("no logo is configured"),
            Some(logo) => HttpResponse::Ok()
                .content_type(logo.content_type)
                .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
                .insert_header((header::CONTENT_SECURITY_POLICY, LOGO_CSP))
                .body(logo.bytes.clone()),
        }
    }
}

fn read_logo(path: &Path) -> Result<Logo, BrandError> {
    let shown = path.display().to_string();
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let content_type = match extension.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("svg") => "image/svg+xml",
        _ => return Err(BrandError::Type { path: shown }),
    };
    let read = |source| BrandError::Read {
        path: shown.clone(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read)?.len();
    if size > MAX_LOGO_BYTES {
        return Err(BrandError::TooLarge { path: shown, size });
    }
    let bytes = std::fs::read(path).map_err(read)?;
    Ok(Logo {
        bytes: web::Bytes::from(bytes),
        content_type,
    })
}

tokio::task_local! {
    static CURRENT: Arc<Brand>;
}

/// Middleware: the app's brand (its `web::Data<Brand>`) is the current one while the request
/// is handled.
pub async fn scope(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let brand = req
        .app_data::<web::Data<Brand>>()
        .map(|b| b.clone().into_inner())
        .unwrap_or_default();
    CURRENT.scope(brand, next.call(req)).await
}

/// Runs `f` with the current request's brand (the default one outside a request).
pub fn with_current<R>(f: impl FnOnce(&Brand) -> R) -> R {
    match CURRENT.try_with(|brand| brand.clone()) {
        Ok(brand) => f(&brand),
        Err(_) => f(&Brand::default()),
    }
}
