//! The two addresses open and click tracking reports to: `/t/c/<id>/<sig>/<address>`
//! (a click: counted, then a redirect to the original address) and `/t/o/<id>/<sig>`
//! (an open: counted, then a transparent 1×1 GIF). Both are checked against the server's
//! web secret first (`estafeta_trust::tracking`): a link someone changed is answered 404,
//! never followed, so this is no open redirector. A store that cannot count does not stop
//! the reader: the redirect and the image are served all the same.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use estafeta_trust::tracking::{check_click, check_open};

use crate::WebState;

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

fn refused() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "This link is not valid.\n",
    )
        .into_response()
}

pub async fn click(
    State(state): State<Arc<WebState>>,
    Path((id, sig, encoded)): Path<(String, String, String)>,
) -> Response {
    let Ok(secret) = state.store.web_secret().await else {
        return refused();
    };
    let Some(url) = check_click(&secret, &id, &sig, &encoded) else {
        tracing::info!(queue_id = %id, "tracking: a click link with a bad signature refused");
        return refused();
    };
    match state
        .store
        .record_click(&id, &url, estafeta_store::now())
        .await
    {
        Ok(true) => tracing::debug!(queue_id = %id, "tracking: click"),
        Ok(false) => tracing::debug!(queue_id = %id, "tracking: click on a message no longer kept"),
        Err(e) => tracing::warn!(queue_id = %id, error = %e, "tracking: click not counted"),
    }
    let Some(location) = location(&url) else {
        return refused();
    };
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            ),
            (
                header::REFERRER_POLICY,
                header::HeaderValue::from_static("no-referrer"),
            ),
        ],
    )
        .into_response()
}

/// The `Location:` value for `url`: octets outside visible ASCII percent-encoded (the
/// address was checked to hold no spaces or controls).
fn location(url: &str) -> Option<header::HeaderValue> {
    let mut out = String::with_capacity(url.len());
    for b in url.bytes() {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    header::HeaderValue::from_str(&out).ok()
}

pub async fn open(
    State(state): State<Arc<WebState>>,
    Path((id, sig)): Path<(String, String)>,
) -> Response {
    let Ok(secret) = state.store.web_secret().await else {
        return refused();
    };
    if !check_open(&secret, &id, &sig) {
        return refused();
    }
    if let Err(e) = state.store.record_open(&id, estafeta_store::now()).await {
        tracing::warn!(queue_id = %id, error = %e, "tracking: open not counted");
    }
    (
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store, private"),
        ],
        PIXEL,
    )
        .into_response()
}
