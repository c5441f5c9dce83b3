//! AUTH PLAIN (RFC 4616, with the initial response) and AUTH LOGIN for smarthosts, and the
//! rule that a password is never sent over plaintext unless the caller allows it.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::conn::Conn;
use super::error::{Error, Stage};
use super::extensions::Extensions;
use super::reply::Reply;
use super::settings::{AuthMechanism, Credentials};

/// Authenticates, or fails without having sent the password where it must not go.
pub(crate) async fn authenticate(
    conn: &mut Conn,
    creds: &Credentials,
    ext: &Extensions,
    allow_plaintext: bool,
    timeout: Duration,
) -> Result<(), Error> {
    if !conn.is_tls() && !allow_plaintext {
        return Err(Error::Auth(
            "the connection is not encrypted and allow_plaintext_auth is off: \
             credentials are not sent in the clear"
                .into(),
        ));
    }
    let mechanism = match creds.mechanism {
        Some(AuthMechanism::Plain) if ext.auth_plain => AuthMechanism::Plain,
        Some(AuthMechanism::Login) if ext.auth_login => AuthMechanism::Login,
        Some(m) => {
            return Err(Error::Auth(format!(
                "the server does not offer AUTH {}",
                name(m)
            )));
        }
        None if ext.auth_plain => AuthMechanism::Plain,
        None if ext.auth_login => AuthMechanism::Login,
        None => {
            return Err(Error::Auth(
                "the server offers neither AUTH PLAIN nor AUTH LOGIN".into(),
            ));
        }
    };
    tracing::debug!(mechanism = name(mechanism), user = %creds.username, "AUTH");
    let reply = match mechanism {
        AuthMechanism::Plain => {
            let token = STANDARD.encode(format!("\0{}\0{}", creds.username, creds.password));
            let mut reply = command(conn, &format!("AUTH PLAIN {token}\r\n"), timeout).await?;
            if reply.code == 334 {
                // a server that wants the response on its own line after all
                reply = command(conn, &format!("{token}\r\n"), timeout).await?;
            }
            reply
        }
        AuthMechanism::Login => {
            let mut reply = command(conn, "AUTH LOGIN\r\n", timeout).await?;
            for answer in [&creds.username, &creds.password] {
                if reply.code != 334 {
                    break;
                }
                reply = command(conn, &format!("{}\r\n", STANDARD.encode(answer)), timeout).await?;
            }
            reply
        }
    };
    if reply.code == 235 {
        tracing::info!(user = %creds.username, "authenticated");
        return Ok(());
    }
    if reply.code == 334 {
        // more challenges than the mechanism has: cancel (RFC 4954 §4)
        let _ = command(conn, "*\r\n", timeout).await;
    }
    Err(Error::Rejected {
        stage: Stage::Auth,
        reply,
    })
}

async fn command(conn: &mut Conn, line: &str, timeout: Duration) -> Result<Reply, Error> {
    conn.write(line.as_bytes(), timeout, Stage::Auth).await?;
    conn.read_reply(timeout, Stage::Auth).await
}

fn name(m: AuthMechanism) -> &'static str {
    match m {
        AuthMechanism::Plain => "PLAIN",
        AuthMechanism::Login => "LOGIN",
    }
}
