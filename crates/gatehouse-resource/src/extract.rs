//! The actix-web side: the `Caller` extractor and the `RequireScope` middleware.

use std::future::{ready, Ready};
use std::rc::Rc;

use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, ResponseError};
use futures_util::future::LocalBoxFuture;

use crate::bearer;
use crate::config::Caller;
use crate::error::{invalid, AuthError};
use crate::verifier::TokenVerifier;

impl TokenVerifier {
    /// The token a request carries: `Authorization: Bearer …` (RFC 6750 §2.1), or when
    /// enabled `?access_token=` (§2.3). More than one is an invalid request.
    fn token_of(&self, req: &HttpRequest) -> Result<String, AuthError> {
        let from_header = bearer::from_header(req)?;
        let from_query = self
            .config
            .allow_query_token
            .then(|| {
                url::form_urlencoded::parse(req.query_string().as_bytes())
                    .find(|(k, _)| k == "access_token")
                    .map(|(_, v)| v.into_owned())
            })
            .flatten();
        match (from_header, from_query) {
            (Some(_), Some(_)) => Err(invalid("a token in both the header and the query")),
            (Some(token), None) | (None, Some(token)) => Ok(token),
            (None, None) => Err(AuthError::Missing),
        }
    }

    /// The request's caller, checked once per request and then remembered in its extensions.
    async fn caller_of(&self, req: &HttpRequest) -> Result<Caller, AuthError> {
        if let Some(caller) = req.extensions().get::<Caller>() {
            return Ok(caller.clone());
        }
        let token = self.token_of(req)?;
        let caller = self.verify(&token).await?;
        req.extensions_mut().insert(caller.clone());
        Ok(caller)
    }
}

fn verifier_of(req: &HttpRequest) -> Result<web::Data<TokenVerifier>, AuthError> {
    req.app_data::<web::Data<TokenVerifier>>()
        .cloned()
        .ok_or_else(|| AuthError::Unavailable("no TokenVerifier in the app data".into()))
}

impl FromRequest for Caller {
    type Error = AuthError;
    type Future = LocalBoxFuture<'static, Result<Caller, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { verifier_of(&req)?.caller_of(&req).await })
    }
}

/// Middleware: the route answers only callers whose token carries `scope`.
#[derive(Clone)]
pub struct RequireScope(Rc<str>);

impl RequireScope {
    pub fn new(scope: &str) -> Self {
        RequireScope(Rc::from(scope))
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireScope
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<actix_web::body::EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireScopeService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireScopeService {
            service: Rc::new(service),
            scope: self.0.clone(),
        }))
    }
}

pub struct RequireScopeService<S> {
    service: Rc<S>,
    scope: Rc<str>,
}

impl<S, B> Service<ServiceRequest> for RequireScopeService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<actix_web::body::EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let (service, scope) = (self.service.clone(), self.scope.clone());
        Box::pin(async move {
            let checked = match verifier_of(req.request()) {
                Ok(verifier) => verifier.caller_of(req.request()).await,
                Err(e) => Err(e),
            };
            let refusal = match checked {
                Ok(caller) if caller.has_scope(&scope) => None,
                Ok(_) => Some(AuthError::InsufficientScope(scope.to_string())),
                Err(e) => Some(e),
            };
            match refusal {
                None => Ok(service.call(req).await?.map_into_left_body()),
                Some(e) => Ok(req.into_response(e.error_response()).map_into_right_body()),
            }
        })
    }
}
