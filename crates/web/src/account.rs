//! The account page: a user signs in with their mail address and password (through the
//! same failed-login throttle as SMTP, IMAP and POP3) and reads exactly what to type into
//! a mail app, or downloads the Apple profile. A password is taken only over TLS, or over
//! plaintext from loopback when `auth.allow_plaintext_on_loopback` is on (a TLS-ending
//! proxy on the same machine), as for the mail protocols.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use estafeta_net::login::{Gate, Login};
use estafeta_store::User;
use serde::Deserialize;

use crate::WebState;
use crate::clients::Endpoint;
use crate::html::{escape, page};
use crate::routes::Client;
use crate::session::{self, Session};

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    address: String,
    #[serde(default)]
    password: String,
    /// Where to go once signed in: the webmail (`/mail`) or, by default, this page.
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub struct SignOut {
    #[serde(default)]
    token: String,
}

/// Whether a password may be sent on this connection.
pub(crate) fn may_take_password(state: &WebState, client: &Client) -> bool {
    client.secure
        || (state.config.auth.allow_plaintext_on_loopback && client.peer.ip().is_loopback())
}

/// The signed-in user's session, the web secret and the user, if the request carries a
/// valid session of an existing user.
pub(crate) async fn signed_in(
    state: &WebState,
    headers: &HeaderMap,
) -> Option<(Session, Vec<u8>, User)> {
    let secret = state.store.web_secret().await.ok()?;
    let session = Session::from_headers(&secret, headers, estafeta_store::now())?;
    match state.store.get_user(&session.address).await {
        Ok(Some(user)) => Some((session, secret, user)),
        _ => None,
    }
}

pub async fn show(
    State(state): State<Arc<WebState>>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
) -> Response {
    match signed_in(&state, &headers).await {
        Some((session, secret, user)) => {
            let vacation = crate::vacation::current(&*state.store, &user).await;
            let vacation = crate::vacation::form(&vacation, &session.form_token(&secret));
            settings_page(&state, &session, &secret, user.admin, &vacation)
        }
        None => sign_in_page(&state, &client, StatusCode::OK, None, "/account"),
    }
}

pub async fn sign_in(
    State(state): State<Arc<WebState>>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    if !session::same_origin(&headers) {
        return forbidden("This form was sent from another site.");
    }
    if !may_take_password(&state, &client) {
        return sign_in_page(&state, &client, StatusCode::FORBIDDEN, None, &form.next);
    }
    let address = form.address.trim().to_ascii_lowercase();
    if address.is_empty() || form.password.is_empty() || address.len() > 320 {
        return sign_in_page(
            &state,
            &client,
            StatusCode::BAD_REQUEST,
            Some("Give your mail address and its password."),
            &form.next,
        );
    }
    let secret = match state.store.web_secret().await {
        Ok(s) => s,
        Err(e) => return unavailable(&e.to_string()),
    };
    let gate = Gate::new(&*state.store, &state.throttle, client.peer.ip());
    match gate.password(&address, &form.password).await {
        Login::LoggedIn(user) => {
            let now = estafeta_store::now();
            let lifetime = i64::try_from(state.config.web.session_lifetime).unwrap_or(3600);
            let session = Session::new(&secret, &user.address, now + lifetime);
            tracing::info!(user = %user.address, peer = %client.peer, "web sign-in");
            // only our own pages: never a redirect to elsewhere
            let next = if form.next == "/mail" {
                "/mail"
            } else {
                "/account"
            };
            (
                [(header::SET_COOKIE, session.set_cookie(client.secure, now))],
                Redirect::to(next),
            )
                .into_response()
        }
        Login::Refused { delay } => {
            tokio::time::sleep(delay).await;
            sign_in_page(
                &state,
                &client,
                StatusCode::UNAUTHORIZED,
                Some("Wrong address or password."),
                &form.next,
            )
        }
        Login::Blocked => sign_in_page(
            &state,
            &client,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed sign-ins from your address: try again later."),
            &form.next,
        ),
        Login::Unavailable => unavailable("the user directory could not be read"),
    }
}

pub async fn sign_out(
    State(state): State<Arc<WebState>>,
    Extension(client): Extension<Client>,
    headers: HeaderMap,
    Form(form): Form<SignOut>,
) -> Response {
    if !session::same_origin(&headers) {
        return forbidden("This form was sent from another site.");
    }
    if let Some((session, secret, _)) = signed_in(&state, &headers).await
        && !session.form_token_matches(&secret, &form.token)
    {
        return forbidden("This form has expired: reload the page and try again.");
    }
    (
        [(header::SET_COOKIE, session::clear_cookie(client.secure))],
        Redirect::to("/account"),
    )
        .into_response()
}

/// The signed-in user's Apple profile.
pub async fn profile(State(state): State<Arc<WebState>>, headers: HeaderMap) -> Response {
    let Some((session, _, _)) = signed_in(&state, &headers).await else {
        return Redirect::to("/account").into_response();
    };
    match crate::mobileconfig::profile(&session.address, &state.clients) {
        Some(body) => (
            [
                (header::CONTENT_TYPE, "application/x-apple-aspen-config"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"mail.mobileconfig\"",
                ),
            ],
            body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            page(
                "No profile",
                "<p>This server offers no IMAP or submission port over TLS.</p>",
            ),
        )
            .into_response(),
    }
}

pub(crate) fn sign_in_page(
    state: &WebState,
    client: &Client,
    status: StatusCode,
    error: Option<&str>,
    next: &str,
) -> Response {
    let next = if next == "/mail" { "/mail" } else { "/account" };
    let host = escape(&state.clients.hostname);
    let body = if !may_take_password(state, client) {
        format!(
            "<h1>Your mail account</h1>\n<p class=\"error\">Passwords are taken over HTTPS only: \
             open <a href=\"https://{host}{next}\">https://{host}{next}</a>.</p>"
        )
    } else {
        let error = error
            .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>\n", escape(e)))
            .unwrap_or_default();
        format!(
            "<h1>Your mail account</h1>\n{error}\
             <form method=\"post\" action=\"/account/sign-in\">\n\
             <input type=\"hidden\" name=\"next\" value=\"{next}\">\n\
             <label>Mail address <input name=\"address\" type=\"email\" autocomplete=\"username\" required></label>\n\
             <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\n\
             <button type=\"submit\">Sign in</button>\n</form>"
        )
    };
    (status, page("Sign in", &body)).into_response()
}

fn settings_page(
    state: &WebState,
    session: &Session,
    secret: &[u8],
    admin: bool,
    vacation: &str,
) -> Response {
    let c = &state.clients;
    let host = escape(&c.hostname);
    let address = escape(&session.address);
    let mut rows = String::new();
    for (what, list) in [
        ("Receiving: IMAP", &c.imap),
        ("Receiving: POP3", &c.pop3),
        ("Sending: SMTP", &c.submission),
    ] {
        for (i, Endpoint { port, security }) in list.iter().enumerate() {
            let what = if i == 0 {
                what.to_string()
            } else {
                format!("{what} (or)")
            };
            rows.push_str(&format!(
                "<tr><td>{what}</td><td>{host}</td><td>{port}</td><td>{}</td></tr>\n",
                security.label()
            ));
        }
    }
    let token = escape(&session.form_token(secret));
    let admin = if admin {
        "<p><a href=\"/admin\">Administration</a>: domains, users, aliases, the queue, suppression lists.</p>\n"
    } else {
        ""
    };
    let body = format!(
        "<h1>Mail settings for {address}</h1>\n\
         <p>Most mail apps set themselves up from your address and password. \
         Where one asks, type these:</p>\n\
         <table>\n<tr><th>Server</th><th>Name</th><th>Port</th><th>Security</th></tr>\n{rows}</table>\n\
         <p>User name: <code>{address}</code> (the whole address), for receiving and for sending. \
         Password: your mail password. Authentication: normal password.</p>\n\
         <p>iPhone, iPad, Mac: <a href=\"/account/profile.mobileconfig\">download a profile</a> \
         that sets up this account.</p>\n{vacation}{admin}\
         <form method=\"post\" action=\"/account/sign-out\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <button type=\"submit\">Sign out</button></form>"
    );
    page("Mail settings", &body)
}

pub fn forbidden(why: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        page(
            "Refused",
            &format!("<p class=\"error\">{}</p>", escape(why)),
        ),
    )
        .into_response()
}

fn unavailable(why: &str) -> Response {
    tracing::error!(error = why, "web sign-in unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        page(
            "Unavailable",
            "<p class=\"error\">Signing in is unavailable just now: try again in a moment.</p>",
        ),
    )
        .into_response()
}
