//! Push over EventSource (RFC 8620 §7.3): `GET /jmap/eventsource?types=&closeafter=&ping=`
//! streams a `state` event whenever the user's Email, Mailbox or Thread state moves. It is
//! fed by the store's change notifications (IDLE's: in-process on SQLite, LISTEN/NOTIFY
//! on PostgreSQL, so a delivery on another node is pushed too); changes within
//! [`SETTLE`] are sent as one event. `ping` (seconds, raised to at least [`MIN_PING`])
//! keeps proxies from closing an idle stream; the web listener's connection lifetime ends
//! it, and the client reconnects.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::auth;
use super::ids;
use super::state::Snapshot;
use crate::WebState;
use crate::routes::Client;

/// Changes that come this close together are pushed as one event.
pub const SETTLE: Duration = Duration::from_millis(100);
pub const MIN_PING: u64 = 5;

#[derive(Deserialize)]
pub struct Params {
    #[serde(default)]
    types: Option<String>,
    #[serde(default)]
    closeafter: Option<String>,
    #[serde(default)]
    ping: Option<u64>,
}

async fn states(state: &WebState, user_id: i64) -> Option<(String, String)> {
    let boxes = state.store.list_mailboxes(user_id).await.ok()?;
    let s = Snapshot::of(&boxes);
    Some((s.email_state(), s.mailbox_state()))
}

fn event(account: &str, types: &[String], email: &str, mailbox: &str) -> String {
    let mut changed = serde_json::Map::new();
    let all = types.iter().any(|t| t == "*");
    for (t, s) in [("Email", email), ("Thread", email), ("Mailbox", mailbox)] {
        if all || types.iter().any(|x| x == t) {
            changed.insert(t.to_string(), json!(s));
        }
    }
    let data = json!({"@type": "StateChange", "changed": {account: changed}});
    format!("event: state\ndata: {data}\n\n")
}

/// `GET /jmap/eventsource`.
pub async fn eventsource(
    State(state): State<Arc<WebState>>,
    Extension(client): Extension<Client>,
    Query(p): Query<Params>,
    headers: HeaderMap,
) -> Response {
    let user = match auth::user(&state, &client, &headers, true).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let types: Vec<String> = p
        .types
        .as_deref()
        .unwrap_or("*")
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .take(10)
        .collect();
    let close_after_state = p.closeafter.as_deref() == Some("state");
    let ping = p
        .ping
        .filter(|p| *p > 0)
        .map(|p| Duration::from_secs(p.clamp(MIN_PING, 3600)));
    let mut changes = match state.store.subscribe().await {
        Ok(r) => r,
        Err(_) => return (StatusCode::SERVICE_UNAVAILABLE, "try again later\n").into_response(),
    };
    let account = ids::account(user.id);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::convert::Infallible>>(8);
    let store_state = state.clone();
    tokio::spawn(async move {
        let Some((mut email, mut mailbox)) = states(&store_state, user.id).await else {
            return;
        };
        // the current states first, what a client compares its own with (not when the
        // stream ends at the first event: that one waits for a change)
        if !close_after_state
            && tx
                .send(Ok(event(&account, &types, &email, &mailbox)))
                .await
                .is_err()
        {
            return;
        }
        let ping_every = ping.unwrap_or(Duration::from_secs(24 * 3600));
        loop {
            let woke = tokio::select! {
                r = changes.recv() => match r {
                    Ok(c) => c.user_id == user.id,
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => return,
                },
                _ = tokio::time::sleep(ping_every), if ping.is_some() => {
                    let data = json!({"interval": ping_every.as_secs()});
                    if tx.send(Ok(format!("event: ping\ndata: {data}\n\n"))).await.is_err() {
                        return;
                    }
                    false
                }
                _ = tx.closed() => return,
            };
            if !woke {
                continue;
            }
            tokio::time::sleep(SETTLE).await;
            let Some((e, m)) = states(&store_state, user.id).await else {
                continue;
            };
            if e == email && m == mailbox {
                continue;
            }
            (email, mailbox) = (e, m);
            if tx
                .send(Ok(event(&account, &types, &email, &mailbox)))
                .await
                .is_err()
                || close_after_state
            {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}
