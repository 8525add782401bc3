//! The edge of the token endpoint: a request body and `Authorization` header parsed once,
//! strictly, into a value the flows can trust.
//!
//! Refused here with `invalid_request`: a body that is not form encoding, a repeated
//! parameter (RFC 6749 §3.2), control characters, more than one `Authorization` header,
//! a body over the configured limit (413), and a body that does not arrive in full within
//! the configured time (408, connection closed).
//!
//! Just over 400 lines: the parser, the Basic credentials and oxide-auth's three `Request`
//! views of one parsed value, with their tests; splitting would scatter one rule set.

use std::borrow::Cow;
use std::collections::HashMap;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;

use super::OAuthError;

/// The largest request body the token endpoints accept, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// How long the whole body of a request may take to arrive, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub std::time::Duration);

/// Whether a reverse proxy in front of gatehouse reports the client's address in
/// `X-Forwarded-For` (from configuration).
#[derive(Debug, Clone, Copy)]
pub struct TrustForwardedFor(pub bool);

/// The address a request came from: the TCP peer, or behind a trusted proxy the last address
/// in `X-Forwarded-For` (the one that proxy added; earlier ones are the client's to forge).
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let trusted = req.app_data::<TrustForwardedFor>().is_some_and(|t| t.0);
    let forwarded = trusted
        .then(|| req.headers().get_all("x-forwarded-for").last())
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok());
    forwarded
        .or_else(|| req.peer_addr().map(|a| a.ip()))
        .map(|ip| ip.to_string())
}

/// Credentials from an HTTP Basic header (`client_secret_basic`, RFC 6749 §2.3.1).
#[derive(Clone)]
pub struct BasicCredentials {
    pub client_id: String,
    pub secret: String,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A validated form request to the token endpoint.
#[derive(Clone, Default)]
pub struct FormRequest {
    params: HashMap<String, String>,
    basic: Option<BasicCredentials>,
    /// The peer's IP address, for the security event log.
    ip: Option<String>,
}

impl std::fmt::Debug for FormRequest {
    // Parameters carry secrets, passwords and tokens: show only their names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormRequest")
            .field("params", &self.params.keys().collect::<Vec<_>>())
            .field("basic", &self.basic)
            .finish()
    }
}

impl FormRequest {
    /// A parameter's value; an empty value counts as omitted (RFC 6749 §3.2).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The `scope` parameter, validated; `None` when absent.
    pub fn scope(&self) -> Result<Option<super::ScopeSet>, OAuthError> {
        self.param("scope")
            .map(|s| {
                super::ScopeSet::parse(s).map_err(|e| OAuthError::invalid_scope(e.to_string()))
            })
            .transpose()
    }

    /// A required parameter.
    pub fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.param(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    }

    pub fn basic(&self) -> Option<&BasicCredentials> {
        self.basic.as_ref()
    }

    /// The address the request came from (the TCP peer).
    pub fn ip(&self) -> Option<&str> {
        self.ip.as_deref()
    }

    /// Builds a request from a body and an optional `Authorization` header value.
    pub fn parse(body: &[u8], authorization: Option<&[u8]>) -> Result<Self, OAuthError> {
        Ok(FormRequest {
            params: parse_form(body)?,
            basic: authorization.map(parse_basic).transpose()?,
            ip: None,
        })
    }
}

/// Parses `application/x-www-form-urlencoded` strictly: bad percent escapes, invalid UTF-8,
/// control characters and repeated names are errors rather than guesses.
pub fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let mut params = HashMap::new();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let name = decode_component(name)?;
        let value = decode_component(value)?;
        if name.is_empty() {
            return Err(OAuthError::invalid_request(
                "form parameter with an empty name",
            ));
        }
        if params.contains_key(&name) {
            return Err(OAuthError::invalid_request(format!(
                "parameter `{}` is repeated",
                printable(&name)
            )));
        }
        params.insert(name, value);
    }
    Ok(params)
}

/// Decodes one form component: `+` is a space, `%XX` a byte; the result must be UTF-8
/// without control characters.
fn decode_component(raw: &[u8]) -> Result<String, OAuthError> {
    let malformed = || OAuthError::invalid_request("request body is not valid form encoding");
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or_else(malformed)?;
                let hex = std::str::from_utf8(hex).map_err(|_| malformed())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| malformed())?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    let text = String::from_utf8(out).map_err(|_| malformed())?;
    if text.chars().any(char::is_control) {
        return Err(OAuthError::invalid_request(
            "form values must not contain control characters",
        ));
    }
    Ok(text)
}

/// Parses `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn parse_basic(value: &[u8]) -> Result<BasicCredentials, OAuthError> {
    let malformed = || OAuthError::invalid_request("malformed Basic authorization header");
    let value = std::str::from_utf8(value).map_err(|_| malformed())?;
    let (scheme, encoded) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "unsupported authorization scheme: use client_secret_basic or client_secret_post",
        ));
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(malformed)?;
    Ok(BasicCredentials {
        client_id: decode_component(&decoded[..colon])?,
        secret: decode_component(&decoded[colon + 1..])?,
    })
}

/// A name safe to echo in an error description.
fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(40)
        .collect()
}

/// Reads the whole body, refusing it as soon as it grows past `limit`.
async fn read_body(payload: &mut Payload, limit: usize) -> Result<Vec<u8>, OAuthError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| OAuthError::invalid_request("request body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(OAuthError::too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether the request's `Content-Type` is `media_type` (parameters aside).
fn has_media_type(req: &HttpRequest, media_type: &str) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(media_type))
}

/// Reads a body of `media_type` under the configured size limit (413) and deadline (408).
pub(super) fn read_limited(
    req: &HttpRequest,
    payload: &mut Payload,
    media_type: &'static str,
) -> LocalBoxFuture<'static, Result<Vec<u8>, OAuthError>> {
    let limit = req.app_data::<BodyLimit>().map_or(16 * 1024, |l| l.0);
    let timeout = req
        .app_data::<BodyReadTimeout>()
        .map_or(std::time::Duration::from_secs(5), |t| t.0);
    let early = if !has_media_type(req, media_type) {
        Err(OAuthError::invalid_request(format!(
            "the body must be {media_type}"
        )))
    } else {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        match declared {
            Some(n) if n > limit => Err(OAuthError::too_large(limit)),
            _ => Ok(()),
        }
    };
    let mut payload = payload.take();
    Box::pin(async move {
        early?;
        // One deadline for the whole body, not per chunk: a client trickling a byte at a
        // time must not hold the connection any longer than one that stalls.
        actix_web::rt::time::timeout(timeout, read_body(&mut payload, limit))
            .await
            .map_err(|_| OAuthError::body_timeout(timeout))?
    })
}

impl FromRequest for FormRequest {
    type Error = OAuthError;
    type Future = LocalBoxFuture<'static, Result<Self, OAuthError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let mut auth = req.headers().get_all(header::AUTHORIZATION);
        let authorization = auth.next().map(|v| v.as_bytes().to_vec());
        let repeated = auth.next().is_some();
        let body = read_limited(req, payload, "application/x-www-form-urlencoded");
        let ip = client_ip(req);
        Box::pin(async move {
            if repeated {
                return Err(OAuthError::invalid_request(
                    "more than one Authorization header",
                ));
            }
            let body = body.await?;
            let mut request = FormRequest::parse(&body, authorization.as_deref())?;
            request.ip = ip;
            Ok(request)
        })
    }
}

/// oxide-auth's client-credentials flow reads the request through this trait.
impl oxide_auth::code_grant::client_credentials::Request for FormRequest {
    fn valid(&self) -> bool {
        true
    }

    fn authorization(&self) -> Option<(Cow<'_, str>, Cow<'_, [u8]>)> {
        self.basic.as_ref().map(|b| {
            (
                Cow::Borrowed(b.client_id.as_str()),
                Cow::Borrowed(b.secret.as_bytes()),
            )
        })
    }

    fn scope(&self) -> Option<Cow<'_, str>> {
        self.param("scope").map(Cow::Borrowed)
    }

    fn grant_type(&self) -> Option<Cow<'_, str>> {
        self.param("grant_type").map(Cow::Borrowed)
    }

    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        // A client using Basic may still name itself in the body (RFC 6749 §4.1.3 asks
        // some to); that is the same authentication, not a second one.
        if key == "client_id" {
            if let Some(basic) = &self.basic {
                if self.param("client_secret").is_none()
                    && self.param("client_id") == Some(basic.client_id.as_str())
                {
                    return None;
                }
            }
        }
        self.param(key).map(Cow::Borrowed)
    }

    fn allow_credentials_in_body(&self) -> bool {
        // client_secret_post (RFC 6749 §2.3.1) is in the metadata's auth methods.
        true
    }
}

/// oxide-auth's authorization flow reads the authorization request (the query string of
/// `/authorize`, parsed as strictly as a token request) through this trait.
impl oxide_auth::code_grant::authorization::Request for FormRequest {
    fn valid(&self) -> bool {
        true
    }

    fn client_id(&self) -> Option<Cow<'_, str>> {
        self.param("client_id").map(Cow::Borrowed)
    }

    fn scope(&self) -> Option<Cow<'_, str>> {
        self.param("scope").map(Cow::Borrowed)
    }

    fn redirect_uri(&self) -> Option<Cow<'_, str>> {
        self.param("redirect_uri").map(Cow::Borrowed)
    }

    fn state(&self) -> Option<Cow<'_, str>> {
        self.param("state").map(Cow::Borrowed)
    }

    fn response_type(&self) -> Option<Cow<'_, str>> {
        self.param("response_type").map(Cow::Borrowed)
    }

    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.param(key).map(Cow::Borrowed)
    }
}

/// oxide-auth's access-token flow (the authorization-code grant) reads the token request
/// through this trait. Credentials are presented as `client_auth::credentials` accepts them.
impl oxide_auth::code_grant::accesstoken::Request for FormRequest {
    fn valid(&self) -> bool {
        true
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.param("code").map(Cow::Borrowed)
    }

    fn authorization(&self) -> oxide_auth::code_grant::accesstoken::Authorization<'_> {
        use oxide_auth::code_grant::accesstoken::Authorization;
        match &self.basic {
            Some(b) => Authorization::UsernamePassword(
                Cow::Borrowed(b.client_id.as_str()),
                Cow::Borrowed(b.secret.as_bytes()),
            ),
            None => Authorization::None,
        }
    }

    fn client_id(&self) -> Option<Cow<'_, str>> {
        oxide_auth::code_grant::client_credentials::Request::extension(self, "client_id")
    }

    fn redirect_uri(&self) -> Option<Cow<'_, str>> {
        self.param("redirect_uri").map(Cow::Borrowed)
    }

    fn grant_type(&self) -> Option<Cow<'_, str>> {
        self.param("grant_type").map(Cow::Borrowed)
    }

    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        self.param(key).map(Cow::Borrowed)
    }

    fn allow_credentials_in_body(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent() {
        let p = parse_form(b"a=x+y%21&b=%E2%82%AC").unwrap();
        assert_eq!(p["a"], "x y!");
        assert_eq!(p["b"], "€");
    }

    #[test]
    fn refuses_repeats_bad_escapes_and_control_characters() {
        assert!(parse_form(b"a=1&a=2").is_err());
        assert!(parse_form(b"a=%zz").is_err());
        assert!(parse_form(b"a=%4").is_err());
        assert!(parse_form(b"a=%ff").is_err());
        assert!(parse_form(b"a=%00").is_err());
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20id:s%3Acret"));
        let b = parse_basic(header.as_bytes()).unwrap();
        assert_eq!(
            (b.client_id.as_str(), b.secret.as_str()),
            ("my id", "s:cret")
        );
    }
}
