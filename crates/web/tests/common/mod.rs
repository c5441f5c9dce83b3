//! What the web side's test suites share: the host they run against and the Python
//! helpers that speak HTTP to it.

use estafeta_config::{ListenerTls, Protocol};
use estafeta_testkit::MailHost;

/// bob@example.com and ann@example.com (password "secret"); listeners in this order:
/// http, https, imaps, imap (STARTTLS), submissions, submission (STARTTLS), pop3s.
pub async fn host(tweak: impl FnOnce(&mut estafeta_config::Config)) -> MailHost {
    MailHost::two_ports_with(
        &[
            (Protocol::Http, ListenerTls::None),
            (Protocol::Https, ListenerTls::Implicit),
            (Protocol::Imap, ListenerTls::Implicit),
            (Protocol::Imap, ListenerTls::Starttls),
            (Protocol::Submission, ListenerTls::Implicit),
            (Protocol::Submission, ListenerTls::Starttls),
            (Protocol::Pop3, ListenerTls::Implicit),
        ],
        tweak,
    )
    .await
}

/// Python helpers: `get(url, host=…, headers=…)` and `post(url, data, …)` return
/// `(status, headers, body)` without following redirects or failing on 4xx/5xx; TLS
/// certificates are not checked (the server's is self-signed); `check(cond, …)` fails the
/// script with what it was given.
pub const HTTP: &str = r#"
import urllib.request, urllib.error, urllib.parse, ssl, sys, json
CTX = ssl.create_default_context(); CTX.check_hostname = False; CTX.verify_mode = ssl.CERT_NONE
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
OPENER = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=CTX))
def call(url, data=None, host=None, headers=None, method=None):
    h = dict(headers or {})
    if host: h["Host"] = host
    req = urllib.request.Request(url, data=data, headers=h, method=method)
    try:
        r = OPENER.open(req, timeout=20)
        return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()
def get(url, **k): return call(url, **k)
def post(url, data, **k):
    if isinstance(data, dict): data = urllib.parse.urlencode(data).encode()
    return call(url, data=data, method="POST", **k)
def check(cond, *what):
    if not cond:
        print("FAILED:", *what, file=sys.stderr); sys.exit(1)
"#;
