//! The URL table, and the handlers small enough to live beside it: which document each
//! path and host gets, and the answers to everything else (404, 405).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Extension, Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::html::{escape, page};
use crate::{WebState, account, admin, jmap};

/// The client of the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub peer: SocketAddr,
    /// The connection is TLS (an `https` listener).
    pub secure: bool,
}

pub fn router(state: Arc<WebState>) -> Router {
    let pages = Router::new()
        .route("/", get(index))
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(autoconfig),
        )
        .route("/mail/config-v1.1.xml", get(autoconfig))
        .route("/autodiscover/autodiscover.json", get(autodiscover_json))
        .route(
            "/autodiscover/autodiscover.json/{*rest}",
            get(autodiscover_json_path),
        )
        .route("/.well-known/mta-sts.txt", get(mta_sts))
        .route("/.well-known/acme-challenge/{token}", get(acme_challenge))
        .route("/metrics", get(metrics))
        .route("/account", get(account::show))
        .route("/account/sign-in", post(account::sign_in))
        .route("/account/sign-out", post(account::sign_out))
        .route("/account/vacation", post(crate::vacation::save))
        .route("/account/profile.mobileconfig", get(account::profile))
        .route("/mail", get(crate::webmail::page))
        .route("/mail/app.js", get(crate::webmail::script))
        .route("/mail/app.css", get(crate::webmail::style))
        .route("/mail/render/{id}", get(crate::webmail::render))
        .route("/admin", get(admin::overview))
        .route("/admin/{section}", get(admin::show).post(admin::change))
        .route("/t/c/{id}/{sig}/{url}", get(crate::tracking::click))
        .route("/t/o/{id}/{sig}", get(crate::tracking::open))
        // Outlook spells the autodiscover path in any case: the fallback matches it
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(crate::MAX_BODY))
        .layer(axum::middleware::from_fn(bounds));
    // JMAP reads larger bodies (requests up to MAX_SIZE_REQUEST, uploads up to the
    // message size limit), each with its own bound
    let jmap = Router::new()
        .route("/.well-known/jmap", get(jmap::session))
        .route("/jmap/session", get(jmap::session))
        .route("/jmap/token", post(jmap::auth::issue))
        .route("/jmap/api", post(jmap_api))
        .route("/jmap/upload/{account}/", post(jmap::blobs_upload))
        .route(
            "/jmap/download/{account}/{blob}/{name}",
            get(jmap::blobs_download),
        )
        .route("/jmap/eventsource", get(jmap::eventsource))
        .layer(DefaultBodyLimit::disable());
    jmap.merge(pages).with_state(state)
}

/// The API endpoint's body: at most `MAX_SIZE_REQUEST` octets, within `BODY_TIMEOUT`.
async fn jmap_api(
    state: State<Arc<WebState>>,
    client: Extension<Client>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let max = jmap::MAX_SIZE_REQUEST;
    let limit = || {
        jmap::problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "urn:ietf:params:jmap:error:limit",
            &format!("maxSizeRequest: at most {max} octets"),
        )
    };
    let promised = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if promised.is_some_and(|n| n > max as u64) {
        return limit();
    }
    let bytes = match tokio::time::timeout(crate::BODY_TIMEOUT, axum::body::to_bytes(body, max))
        .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return limit(),
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "request body too slow\n").into_response(),
    };
    jmap::api(state, client, headers, bytes).await
}

/// The bounds hyper does not keep exactly: a request line and headers over
/// `MAX_HEADER_BYTES` are answered 431 (hyper stops reading at about twice that), and a
/// body that has not arrived within `BODY_TIMEOUT` 408.
async fn bounds(request: Request, next: axum::middleware::Next) -> Response {
    let head: usize = request.uri().to_string().len()
        + request
            .headers()
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if head > crate::MAX_HEADER_BYTES {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            [(header::CONNECTION, "close")],
            "request headers too large\n",
        )
            .into_response();
    }
    let promised = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if promised.is_some_and(|n| n > crate::MAX_BODY as u64) {
        return too_large();
    }
    let (parts, body) = request.into_parts();
    let bytes = match tokio::time::timeout(
        crate::BODY_TIMEOUT,
        axum::body::to_bytes(body, crate::MAX_BODY),
    )
    .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return too_large(),
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "request body too slow\n").into_response(),
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

fn too_large() -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(header::CONNECTION, "close")],
        "request body too large\n",
    )
        .into_response()
}

/// The host a request was sent to, lower case, without port or final dot.
pub fn host_name(host: &str) -> String {
    let name = match host.rsplit_once(':') {
        // a bracketed IPv6 literal keeps its colons
        Some((name, port)) if !name.ends_with(']') || host.starts_with('[') => {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        }
        _ => host,
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn request_host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(host_name)
        .unwrap_or_default()
}

async fn index(State(state): State<Arc<WebState>>) -> Response {
    page(
        &state.clients.hostname,
        &format!(
            "<h1>{}</h1>\n<p>This is a mail server. <a href=\"/account\">Your account</a> \
             shows the settings for your mail app.</p>",
            escape(&state.clients.hostname)
        ),
    )
}

#[derive(Deserialize)]
struct AutoconfigQuery {
    emailaddress: Option<String>,
}

/// The domain a set-up request is for: the address's, else the host's without
/// `autoconfig.` / `autodiscover.`; `None` unless it is one of ours.
async fn our_domain(state: &WebState, address: Option<&str>, host: &str) -> Option<String> {
    let domain = match address.and_then(|a| a.rsplit_once('@')) {
        Some((_, d)) => d.trim().trim_end_matches('.').to_ascii_lowercase(),
        None => {
            let h = host_name(host);
            h.strip_prefix("autoconfig.")
                .or_else(|| h.strip_prefix("autodiscover."))
                .unwrap_or(&h)
                .to_string()
        }
    };
    if domain.is_empty() || domain.len() > 253 {
        return None;
    }
    match state.store.is_local_domain(&domain).await {
        Ok(true) => Some(domain),
        Ok(false) => None,
        Err(e) => {
            tracing::warn!(error = %e, "web: the domain list could not be read");
            None
        }
    }
}

async fn autoconfig(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Query(q): Query<AutoconfigQuery>,
) -> Response {
    let host = request_host(&headers);
    let Some(domain) = our_domain(&state, q.emailaddress.as_deref(), &host).await else {
        return not_ours();
    };
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        crate::autoconfig::document(&domain, &state.clients),
    )
        .into_response()
}

async fn autodiscover_xml(state: &WebState, method: &Method, body: &[u8]) -> Response {
    if method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "autodiscover takes a POSTed request\n",
        )
            .into_response();
    }
    let Some(address) = std::str::from_utf8(body)
        .ok()
        .and_then(crate::autodiscover::requested_address)
    else {
        return (
            StatusCode::BAD_REQUEST,
            "expected an autodiscover request with an EMailAddress\n",
        )
            .into_response();
    };
    if our_domain(state, Some(&address), "").await.is_none() {
        return not_ours();
    }
    (
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        crate::autodiscover::response(&address, &state.clients),
    )
        .into_response()
}

#[derive(Deserialize)]
struct JsonQuery {
    #[serde(rename = "Email")]
    email: Option<String>,
    #[serde(rename = "Protocol")]
    protocol: Option<String>,
}

async fn autodiscover_json(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Query(q): Query<JsonQuery>,
) -> Response {
    autodiscover_pointer(&state, &headers, q.email.as_deref(), q.protocol.as_deref()).await
}

/// `/autodiscover/autodiscover.json/v1.0/<address>?Protocol=AutodiscoverV1`
async fn autodiscover_json_path(
    State(state): State<Arc<WebState>>,
    headers: HeaderMap,
    Path(rest): Path<String>,
    Query(q): Query<JsonQuery>,
) -> Response {
    let address = rest.rsplit('/').next().map(str::to_string);
    autodiscover_pointer(&state, &headers, address.as_deref(), q.protocol.as_deref()).await
}

async fn autodiscover_pointer(
    state: &WebState,
    headers: &HeaderMap,
    address: Option<&str>,
    protocol: Option<&str>,
) -> Response {
    if !protocol.is_some_and(|p| p.eq_ignore_ascii_case("AutodiscoverV1")) {
        // what Exchange answers for a protocol it does not serve (ActiveSync, EWS, …)
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({
                "ErrorCode": "InvalidProtocol",
                "ErrorMessage": "The given protocol value is invalid. Supported values are 'AutodiscoverV1'",
            })),
        )
            .into_response();
    }
    let host = request_host(headers);
    if our_domain(state, address, &host).await.is_none() {
        return not_ours();
    }
    axum::Json(crate::autodiscover::json_pointer(&host)).into_response()
}

/// An HTTP-01 challenge of the ACME client (RFC 8555 §8.3): the key authorization of a
/// pending token, 404 for any other.
async fn acme_challenge(State(state): State<Arc<WebState>>, Path(token): Path<String>) -> Response {
    match state.acme_tokens.get(&token) {
        Some(key_authorization) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            key_authorization,
        )
            .into_response(),
        None => not_found(),
    }
}

async fn mta_sts(State(state): State<Arc<WebState>>, headers: HeaderMap) -> Response {
    let host = request_host(&headers);
    let Some(domain) = crate::mta_sts::domain_of_host(&host) else {
        return not_found();
    };
    if our_domain(&state, Some(&format!("@{domain}")), "")
        .await
        .is_none()
    {
        return not_ours();
    }
    (
        [
            (header::CONTENT_TYPE, "text/plain"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        crate::mta_sts::policy(&state.config),
    )
        .into_response()
}

async fn metrics(
    State(state): State<Arc<WebState>>,
    Extension(client): Extension<Client>,
) -> Response {
    if !state.metrics_from.contains(client.peer.ip()) {
        return (
            StatusCode::FORBIDDEN,
            "metrics are readable from web.metrics_networks only\n",
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.gauges.render(&*state.store).await,
    )
        .into_response()
}

async fn fallback(
    State(state): State<Arc<WebState>>,
    method: Method,
    request: Request,
) -> Response {
    if request
        .uri()
        .path()
        .eq_ignore_ascii_case("/autodiscover/autodiscover.xml")
    {
        let body: Bytes = axum::body::to_bytes(request.into_body(), crate::MAX_BODY)
            .await
            .unwrap_or_default();
        return autodiscover_xml(&state, &method, &body).await;
    }
    not_found()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        page("Not found", "<p>There is nothing here.</p>"),
    )
        .into_response()
}

/// A set-up document asked for a domain this server does not handle.
fn not_ours() -> Response {
    (
        StatusCode::NOT_FOUND,
        "this server handles no mail for that domain\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_names() {
        use super::host_name;
        assert_eq!(host_name("Mail.Example.TEST:8443"), "mail.example.test");
        assert_eq!(host_name("mail.example.test."), "mail.example.test");
        assert_eq!(host_name("[::1]:80"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name(""), "");
    }
}
