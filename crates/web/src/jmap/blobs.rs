//! Blob upload and download (RFC 8620 §6.1, 6.2). An upload is kept by the store for a
//! day (`estafeta_store::UPLOAD_LIFETIME_SECS`); it is at most the SMTP message size
//! limit, read within [`UPLOAD_TIMEOUT`], and a user holds at most
//! `MAX_UPLOADS_HELD` × that at once. A download is served as an attachment
//! (`Content-Disposition: attachment`, `nosniff`, a `sandbox` content security policy),
//! whatever type the client names, so that a message's HTML never runs on our origin.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::{MAX_CONCURRENT_UPLOADS, MAX_UPLOADS_HELD, auth, emails, ids, problem};
use crate::WebState;
use crate::routes::Client;

/// How long an upload may take to arrive.
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(300);

/// A content type as a client names it, if it looks like one (`type/subtype`, no
/// parameters); else `application/octet-stream`.
pub fn clean_type(t: &str) -> String {
    let t = t.trim().to_ascii_lowercase();
    let ok = t.len() <= 100
        && t.split_once('/').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && (a.bytes().chain(b.bytes()))
                    .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
        });
    if ok {
        t
    } else {
        "application/octet-stream".into()
    }
}

/// `POST /jmap/upload/{accountId}/`.
pub async fn upload(
    State(state): State<Arc<WebState>>,
    Extension(client): Extension<Client>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let user = match auth::user(&state, &client, &headers, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if account != ids::account(user.id) {
        return problem(StatusCode::NOT_FOUND, "about:blank", "no such account");
    }
    let max = state.config.smtp.max_message_size as usize;
    let promised = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if promised.is_some_and(|n| n > max as u64) {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "urn:ietf:params:jmap:error:limit",
            &format!("maxSizeUpload: at most {max} octets"),
        );
    }
    let Some(_slot) = state.jmap_uploads.take(user.id, MAX_CONCURRENT_UPLOADS) else {
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            "urn:ietf:params:jmap:error:limit",
            "maxConcurrentUpload: wait for your other uploads",
        );
    };
    let bytes = match tokio::time::timeout(UPLOAD_TIMEOUT, axum::body::to_bytes(body, max)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "urn:ietf:params:jmap:error:limit",
                &format!("maxSizeUpload: at most {max} octets"),
            );
        }
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "upload too slow\n").into_response(),
    };
    let content_type = clean_type(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    let id = ids::new_upload();
    let held = (max as i64).saturating_mul(MAX_UPLOADS_HELD);
    match state
        .store
        .put_upload(
            user.id,
            &id,
            &content_type,
            &bytes,
            estafeta_store::now(),
            held,
        )
        .await
    {
        Ok(()) => (
            StatusCode::CREATED,
            axum::Json(json!({
                "accountId": account,
                "blobId": format!("u{id}"),
                "type": content_type,
                "size": bytes.len(),
            })),
        )
            .into_response(),
        Err(estafeta_store::StoreError::OverQuota(m)) => problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "urn:ietf:params:jmap:error:limit",
            &format!("uploads: {m}; they are kept a day"),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "JMAP upload not stored");
            (StatusCode::SERVICE_UNAVAILABLE, "try again later\n").into_response()
        }
    }
}

#[derive(Deserialize)]
pub struct DownloadQuery {
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// `GET /jmap/download/{accountId}/{blobId}/{name}?type=`.
pub async fn download(
    State(state): State<Arc<WebState>>,
    Extension(client): Extension<Client>,
    Path((account, blob, name)): Path<(String, String, String)>,
    Query(q): Query<DownloadQuery>,
    headers: HeaderMap,
) -> Response {
    let user = match auth::user(&state, &client, &headers, true).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if account != ids::account(user.id) {
        return (StatusCode::NOT_FOUND, "no such account\n").into_response();
    }
    let found = match emails::blob_bytes(&state, user.id, &blob).await {
        Ok(f) => f,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{}\n", e.description),
            )
                .into_response();
        }
    };
    let Some((bytes, stored_type)) = found else {
        return (StatusCode::NOT_FOUND, "no such blob\n").into_response();
    };
    let content_type = clean_type(q.kind.as_deref().unwrap_or(&stored_type));
    let file: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".to_string(),
            ),
            (
                header::CACHE_CONTROL,
                "private, immutable, max-age=31536000".to_string(),
            ),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::clean_type;

    #[test]
    fn content_types_from_clients_are_kept_only_when_plain() {
        assert_eq!(clean_type("Image/PNG"), "image/png");
        assert_eq!(
            clean_type("application/vnd.ms-excel"),
            "application/vnd.ms-excel"
        );
        for bad in [
            "",
            "text",
            "text/html; charset=utf-8\r\nX: y",
            "a/b c",
            "/x",
            "x/",
        ] {
            assert_eq!(clean_type(bad), "application/octet-stream", "{bad:?}");
        }
    }
}
