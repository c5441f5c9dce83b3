//! Who a JMAP request is from: HTTP Basic (the mail password, over TLS or from loopback
//! when `auth.allow_plaintext_on_loopback` allows it, as for every protocol) through the
//! failed-login throttle the mail protocols share; a bearer token we signed
//! (`POST /jmap/token` with Basic, or the webmail's page) — a wrong one counts as a failed
//! login too; and, for the read-only `GET`s a browser makes without headers of its own
//! (downloads, EventSource), the webmail's session cookie (`SameSite=Strict`).
//!
//! A token is `<expires>.<address, base64url>.<HMAC-SHA-256>` under the store's web
//! secret, the same on every node; it ends at its expiry (`web.session_lifetime`).

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use estafeta_net::login::{Gate, Login};
use estafeta_store::User;
use serde_json::json;

use crate::WebState;
use crate::routes::Client;
use crate::session::{Session, equal, mac};

const PURPOSE: &str = "jmap-token";

/// A bearer token for `address` until `expires`.
pub fn token(secret: &[u8], address: &str, expires: i64) -> String {
    let body = format!("{expires}.{}", URL_SAFE_NO_PAD.encode(address));
    format!("{body}.{}", mac(secret, PURPOSE, &body))
}

/// The address a token names, if we signed it and it lasts past `now`.
pub fn token_address(secret: &[u8], token: &str, now: i64) -> Option<String> {
    let (body, signature) = token.rsplit_once('.')?;
    if !equal(signature, &mac(secret, PURPOSE, body)) {
        return None;
    }
    let (expires, address) = body.split_once('.')?;
    if expires.parse::<i64>().ok()? <= now {
        return None;
    }
    String::from_utf8(URL_SAFE_NO_PAD.decode(address).ok()?).ok()
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"estafeta\", charset=\"UTF-8\", Bearer realm=\"estafeta\"",
        )],
        "authentication required\n",
    )
        .into_response()
}

fn status(code: StatusCode, text: &'static str) -> Response {
    (code, text).into_response()
}

/// The user of the request, or the answer refusing it. `cookie`: a webmail session
/// cookie is enough (read-only `GET`s only).
pub async fn user(
    state: &WebState,
    client: &Client,
    headers: &HeaderMap,
    cookie: bool,
) -> Result<User, Response> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(authorization) = authorization else {
        if cookie && let Some((_, _, user)) = crate::account::signed_in(state, headers).await {
            return Ok(user);
        }
        return Err(unauthorized());
    };
    let (scheme, value) = authorization
        .trim()
        .split_once(' ')
        .unwrap_or((authorization, ""));
    let gate = Gate::new(&*state.store, &state.throttle, client.peer.ip());
    if scheme.eq_ignore_ascii_case("basic") {
        if !crate::account::may_take_password(state, client) {
            return Err(status(
                StatusCode::FORBIDDEN,
                "passwords are taken over HTTPS only\n",
            ));
        }
        let decoded = STANDARD
            .decode(value.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok());
        let Some((name, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return Err(status(
                StatusCode::BAD_REQUEST,
                "malformed Basic credentials\n",
            ));
        };
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || name.len() > 320 || password.is_empty() {
            return Err(unauthorized());
        }
        return match gate.password(&name, password).await {
            Login::LoggedIn(user) => Ok(user),
            Login::Refused { delay } => {
                tokio::time::sleep(delay).await;
                Err(unauthorized())
            }
            Login::Blocked => Err(status(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logins from your address: try again later\n",
            )),
            Login::Unavailable => Err(status(
                StatusCode::SERVICE_UNAVAILABLE,
                "the user directory could not be read\n",
            )),
        };
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        let secret = state
            .store
            .web_secret()
            .await
            .map_err(|_| status(StatusCode::SERVICE_UNAVAILABLE, "try again later\n"))?;
        if gate.is_blocked() {
            return Err(status(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logins from your address: try again later\n",
            ));
        }
        let named = token_address(&secret, value.trim(), estafeta_store::now());
        if let Some(address) = named
            && let Ok(Some(user)) = state.store.get_user(&address).await
        {
            return Ok(user);
        }
        // a forged or expired token counts as a failed login
        if let Some(attempt) = gate.begin("").await {
            let delay = attempt.failed();
            tokio::time::sleep(delay).await;
        }
        tracing::info!(peer = %client.peer, "JMAP bearer token refused");
        return Err(unauthorized());
    }
    Err(unauthorized())
}

/// `POST /jmap/token`: a bearer token for the user of the request's Basic credentials
/// (or of the webmail's session, with its form token in `X-Estafeta-Form`).
pub async fn issue(
    State(state): State<Arc<WebState>>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
) -> Response {
    let user = match user(&state, &client, &headers, false).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Ok(secret) = state.store.web_secret().await else {
        return status(StatusCode::SERVICE_UNAVAILABLE, "try again later\n");
    };
    let lifetime = i64::try_from(state.config.web.session_lifetime).unwrap_or(3600);
    let expires = estafeta_store::now() + lifetime;
    tracing::info!(user = %user.address, peer = %client.peer, "JMAP token issued");
    axum::Json(json!({
        "accessToken": token(&secret, &user.address, expires),
        "tokenType": "Bearer",
        "expiresIn": lifetime,
    }))
    .into_response()
}

/// A token for the webmail page of a signed-in session.
pub fn token_for_session(secret: &[u8], session: &Session) -> String {
    token(secret, &session.address, session.expires)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_user_until_they_end() {
        let t = token(b"secret", "ana@example.test", 1_000);
        assert_eq!(
            token_address(b"secret", &t, 999).as_deref(),
            Some("ana@example.test")
        );
        assert_eq!(token_address(b"secret", &t, 1_000), None, "expired");
        assert_eq!(token_address(b"other", &t, 0), None, "another secret");
        let bob = URL_SAFE_NO_PAD.encode("bob@example.test");
        let ana = URL_SAFE_NO_PAD.encode("ana@example.test");
        for forged in [
            t.replacen(&ana, &bob, 1),
            t.replacen("1000.", "9999.", 1),
            format!("{t}0"),
            String::new(),
            "1.2".into(),
            "..".into(),
        ] {
            assert_eq!(token_address(b"secret", &forged, 0), None, "{forged}");
        }
    }
}
