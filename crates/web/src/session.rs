//! Web sign-ins: a session is a cookie the server signed (HMAC-SHA-256 with the store's
//! web secret, the same on every node), naming the user and when it ends; nothing is kept
//! on the server (the address is in the cookie, base64url, so it needs no quoting). The
//! cookie is `HttpOnly`, `SameSite=Strict`, and `Secure` when it was
//! set over TLS. Each form carries a token derived from the session
//! ([`Session::form_token`]); a POST without the right one is refused, and a POST whose
//! `Origin` names another site is refused before that.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use axum::http::{HeaderMap, header};

pub const COOKIE: &str = "estafeta_session";

/// A signed-in user, from a cookie that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub address: String,
    pub expires: i64,
    /// The cookie's value, which form tokens are derived from.
    value: String,
}

pub(crate) fn mac(secret: &[u8], purpose: &str, text: &str) -> String {
    // HMAC takes a key of any length
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(purpose.as_bytes());
    m.update(b"\n");
    m.update(text.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

pub(crate) fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Session {
    /// A new session for `address`, ending at `expires` (Unix seconds).
    pub fn new(secret: &[u8], address: &str, expires: i64) -> Session {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let body = format!("{expires}.{nonce}.{}", URL_SAFE_NO_PAD.encode(address));
        let value = format!("{body}.{}", mac(secret, "session", &body));
        Session {
            address: address.to_string(),
            expires,
            value,
        }
    }

    /// The session named by the request's cookie, if it is signed by us and not over.
    pub fn from_headers(secret: &[u8], headers: &HeaderMap, now: i64) -> Option<Session> {
        let value = cookie(headers, COOKIE)?;
        let (body, signature) = value.rsplit_once('.')?;
        if !equal(signature, &mac(secret, "session", body)) {
            return None;
        }
        let mut parts = body.splitn(3, '.');
        let expires: i64 = parts.next()?.parse().ok()?;
        let _nonce = parts.next()?;
        let address = String::from_utf8(URL_SAFE_NO_PAD.decode(parts.next()?).ok()?).ok()?;
        if expires <= now {
            return None;
        }
        Some(Session {
            address,
            expires,
            value: value.to_string(),
        })
    }

    /// The `Set-Cookie` value that gives the browser this session.
    pub fn set_cookie(&self, secure: bool, now: i64) -> String {
        format!(
            "{COOKIE}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}",
            self.value,
            (self.expires - now).max(0),
            if secure { "; Secure" } else { "" }
        )
    }

    /// The token every form of this session carries.
    pub fn form_token(&self, secret: &[u8]) -> String {
        mac(secret, "form", &self.value)
    }

    pub fn form_token_matches(&self, secret: &[u8], token: &str) -> bool {
        equal(token, &self.form_token(secret))
    }
}

/// The `Set-Cookie` value that ends a session in the browser.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The value of cookie `name` in the request, if sent once or more (the first is taken).
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// False when the request's `Origin` header names a site other than the one it was sent
/// to (a cross-site form post); a request without `Origin` passes (the form token is the
/// check that always applies once signed in).
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .unwrap_or("");
    origin_host.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn a_signed_cookie_names_its_user_until_it_ends() {
        let s = Session::new(b"secret", "ana@example.test", 1_000);
        let cookie = s.set_cookie(true, 900);
        assert!(cookie.contains("Max-Age=100; HttpOnly; SameSite=Strict; Secure"));
        let value = cookie.split(';').next().unwrap();
        let h = with_cookie(&format!("other=1; {value}"));
        assert_eq!(Session::from_headers(b"secret", &h, 999), Some(s.clone()));
        assert_eq!(Session::from_headers(b"secret", &h, 1_000), None, "over");
        assert_eq!(Session::from_headers(b"other", &h, 999), None, "not ours");
        assert!(s.form_token_matches(b"secret", &s.form_token(b"secret")));
        assert!(!s.form_token_matches(b"secret", "00"));
    }

    #[test]
    fn tampered_cookies_are_refused() {
        let s = Session::new(b"secret", "ana@example.test", 1_000);
        let value = s.set_cookie(false, 0);
        let value = value.split(';').next().unwrap();
        let bob = URL_SAFE_NO_PAD.encode("bob@example.test");
        let ana = URL_SAFE_NO_PAD.encode("ana@example.test");
        for forged in [
            value.replacen(&ana, &bob, 1),
            value.replacen("=1000.", "=9999.", 1),
            format!("{value}0"),
            "estafeta_session=".to_string(),
            "estafeta_session=1.2.3".to_string(),
        ] {
            assert_eq!(
                Session::from_headers(b"secret", &with_cookie(&forged), 0),
                None,
                "{forged}"
            );
        }
    }

    #[test]
    fn cross_site_posts_are_told_apart() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("mail.example.test"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://mail.example.test"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.test"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }
}
