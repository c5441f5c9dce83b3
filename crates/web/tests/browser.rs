//! The admin pages in a real browser: Debian's headless Chromium, driven over the W3C
//! WebDriver protocol (chromedriver, spoken to with Python's urllib: no Selenium). An
//! administrator signs in, adds a domain and a user through the forms, a message for
//! that user arrives over SMTP, and it appears on the statistics page. A screenshot of
//! each step is kept under `target/test-artifacts/browser/`.
//!
//! Needs `chromium` and `chromium-driver` (apt; `.ci/run` installs them).

use estafeta_config::{ListenerTls, Protocol};
use estafeta_testkit::{MailHost, python};

const WEBDRIVER: &str = r#"
import json, os, socket, subprocess, sys, time, urllib.request, urllib.error, base64, re
def check(cond, *what):
    if not cond:
        print("FAILED:", *what, file=sys.stderr); sys.exit(1)
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
PORT = free_port()
DRIVER = subprocess.Popen(["chromedriver", "--port=%d" % PORT], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
WD = "http://127.0.0.1:%d" % PORT
def wd(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(WD + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["value"]
    except urllib.error.HTTPError as e:
        raise SystemExit("webdriver %s %s: %s" % (method, path, e.read().decode()[:500]))
# chromedriver is ready when /status says so (polled, with a deadline)
deadline = time.time() + 30
while True:
    try:
        if wd("GET", "/status").get("ready"): break
    except (urllib.error.URLError, ConnectionError, SystemExit):
        pass
    check(time.time() < deadline, "chromedriver did not start")
    time.sleep(0.1)
caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "acceptInsecureCerts": True,
        "goog:chromeOptions": {"binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--user-data-dir=" + PROFILE]}}}}
SID = wd("POST", "/session", caps)["sessionId"]
S = "/session/" + SID
KEY = "element-6066-11e4-a52e-4f735466cecf"
def go(url): wd("POST", S + "/url", {"url": url})
def find(css):
    return wd("POST", S + "/element", {"using": "css selector", "value": css})[KEY]
def type_in(css, text):
    e = find(css); wd("POST", S + "/element/%s/clear" % e, {}); wd("POST", S + "/element/%s/value" % e, {"text": text})
def stale(e):
    try:
        urllib.request.urlopen(urllib.request.Request(WD + S + "/element/%s/name" % e), timeout=60).read()
        return False
    except urllib.error.HTTPError as err:
        return b"stale element" in err.read()
# a click that navigates (a form's button, a link) returns once the old page is gone:
# chromedriver may answer the click before the new page has started loading
def click(css):
    old = find("html")
    wd("POST", S + "/element/%s/click" % find(css), {})
    deadline = time.time() + 30
    while not stale(old):
        check(time.time() < deadline, "the click on %s did not load a new page" % css)
        time.sleep(0.05)
def source(): return wd("GET", S + "/source")
def url(): return wd("GET", S + "/url")
def shot(name):
    with open(os.path.join(ART, name + ".png"), "wb") as f:
        f.write(base64.b64decode(wd("GET", S + "/screenshot")))
def finish():
    try: wd("DELETE", S)
    finally:
        DRIVER.terminate(); DRIVER.wait(timeout=30)
"#;

#[tokio::test]
async fn an_admin_signs_in_adds_a_domain_and_a_user_and_sees_their_mail_counted() {
    let h = MailHost::two_ports_with(&[(Protocol::Https, ListenerTls::Implicit)], |_| {}).await;
    h.store
        .set_admin("bob@example.com", true)
        .await
        .expect("admin");
    let https = h.listeners[0];
    let artefacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-artifacts/browser");
    std::fs::create_dir_all(&artefacts).expect("artefact folder");
    let artefacts = artefacts.canonicalize().expect("artefact folder");
    for old in std::fs::read_dir(&artefacts).expect("list") {
        let old = old.expect("entry").path();
        if old.extension().is_some_and(|e| e == "png") {
            std::fs::remove_file(old).expect("old screenshot");
        }
    }
    let profile = tempfile::tempdir().expect("browser profile");
    python(&format!(
        r#"
ART = {art:?}
PROFILE = {profile:?}
{WEBDRIVER}
try:
    base = "https://{https}"
    go(base + "/account")
    shot("1-sign-in")
    type_in("input[name=address]", "bob@example.com")
    type_in("input[name=password]", "secret")
    click("form[action='/account/sign-in'] button")
    check("Mail settings for bob@example.com" in source(), source())
    shot("2-account")
    go(base + "/admin/domains")
    type_in("form[action='/admin/domain-add'] input[name=name]", "shop.test")
    click("form[action='/admin/domain-add'] button")
    page = source()
    check("domain shop.test added" in page and "<td>shop.test</td>" in page, page)
    shot("3-domain-added")
    go(base + "/admin/users")
    type_in("form[action='/admin/user-add'] input[name=address]", "sales@shop.test")
    type_in("form[action='/admin/user-add'] input[name=password]", "a long pass phrase")
    type_in("form[action='/admin/user-add'] input[name=quota_mb]", "50")
    click("form[action='/admin/user-add'] button")
    page = source()
    check("user sales@shop.test added" in page and "<td>sales@shop.test</td><td>50 MB</td>" in page, page)
    shot("4-user-added")
    import smtplib
    with smtplib.SMTP("{smtp_ip}", {smtp_port}) as s:
        s.sendmail("buyer@outside.test", ["sales@shop.test"],
                   "From: buyer@outside.test\r\nTo: sales@shop.test\r\nSubject: an order\r\n\r\nOne please.\r\n")
    go(base + "/admin/statistics")
    page = source()
    check('<a href="/admin/statistics?domain=shop.test">shop.test</a></td><td>1</td><td>1</td>' in page, page)
    check("<svg" in page, "a chart")
    shot("5-statistics")
    click("a[href='/admin/statistics?domain=shop.test']")
    check(url().endswith("/admin/statistics?domain=shop.test") and "Domain <strong>shop.test</strong> only" in source(), url())
    shot("6-statistics-shop")
finally:
    finish()
"#,
        art = artefacts.display().to_string(),
        profile = profile.path().display().to_string(),
        smtp_ip = h.smtp.ip(),
        smtp_port = h.smtp.port(),
    ))
    .await;
    // the user the browser made can log in, and has the message
    let inbox = h.inbox("sales@shop.test").await;
    assert_eq!(inbox.len(), 1, "the message reached the new user");
    for step in [
        "1-sign-in",
        "2-account",
        "3-domain-added",
        "4-user-added",
        "5-statistics",
        "6-statistics-shop",
    ] {
        let png = std::fs::read(artefacts.join(format!("{step}.png"))).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 1000, "{step}");
    }
}

/// The webmail in a real browser: bob signs in, reads a message ann sent him over SMTP,
/// replies, and the reply arrives in ann's INBOX; a message with a script and a remote
/// image is shown without running the one or fetching the other until bob asks for
/// images; search finds a message. Screenshots under `target/test-artifacts/webmail/`.
#[tokio::test]
async fn the_webmail_reads_replies_and_shows_hostile_mail_safely() {
    let h = MailHost::two_ports_with(&[(Protocol::Https, ListenerTls::Implicit)], |_| {}).await;
    let https = h.listeners[0];
    let artefacts = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-artifacts/webmail");
    std::fs::create_dir_all(&artefacts).expect("artefact folder");
    let artefacts = artefacts.canonicalize().expect("artefact folder");
    let profile = tempfile::tempdir().expect("browser profile");
    python(&format!(
        r##"
ART = {art:?}
PROFILE = {profile:?}
{WEBDRIVER}
import smtplib, threading, http.server
# a web server standing for a sender's tracking pixel: it counts the requests it gets
HITS = []
class Pixel(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        HITS.append(self.path)
        self.send_response(200); self.send_header("Content-Type", "image/gif"); self.end_headers()
        self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")
    def log_message(self, *a): pass
import ssl
pixel = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pixel)
# over TLS (the browser would not fetch a plain-HTTP image into an HTTPS page), with the
# test server's self-signed certificate: the browser accepts any in this test
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain({cert:?}, {key:?})
pixel.socket = tls.wrap_socket(pixel.socket, server_side=True, do_handshake_on_connect=False)
threading.Thread(target=pixel.serve_forever, daemon=True).start()
PIXEL = "https://127.0.0.1:%d/pixel.gif" % pixel.server_address[1]
def smtp(sender, to, text):
    with smtplib.SMTP("{smtp_ip}", {smtp_port}) as s:
        s.sendmail(sender, [to], text.encode())
smtp("ann@example.com", "bob@example.com",
     "From: Ann <ann@example.com>\r\nTo: bob@example.com\r\nSubject: Plans for Friday\r\nMessage-ID: <plans@example.com>\r\n\r\nHello Bob, lunch on Friday?\r\n")
smtp("promo@outside.test", "bob@example.com",
     "From: promo@outside.test\r\nTo: bob@example.com\r\nSubject: Big offer\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n"
     "<p id=offer>Buy now</p><script>parent.document.title='pwned';document.title='pwned'</script>"
     "<img src=\"" + PIXEL + "\" alt=pixel><a href=\"javascript:parent.document.title='pwned'\">click</a>\r\n")
def js(script, *args):
    return wd("POST", S + "/execute/sync", {{"script": script, "args": list(args)}})
def wait_for(what, test):
    deadline = time.time() + 30
    while True:
        got = test()
        if got: return got
        check(time.time() < deadline, "waited for", what)
        time.sleep(0.05)
def frame(css):
    wd("POST", S + "/frame", {{"id": {{KEY: find(css)}}}})
def top():
    wd("POST", S + "/frame/parent", {{}})
def row(subject):
    return js("for (const a of document.querySelectorAll('#rows a')) if (a.textContent === arguments[0]) return true; return false;", subject)
def open_row(subject):
    js("for (const a of document.querySelectorAll('#rows a')) if (a.textContent === arguments[0]) a.click();", subject)
    wait_for("the message " + subject, lambda: js("return !document.getElementById('reader').hidden && document.querySelector('#reader h2').textContent === arguments[0]", subject))
try:
    base = "https://{https}"
    go(base + "/mail")
    check("name=\"next\" value=\"/mail\"" in source(), source())
    shot("1-sign-in")
    type_in("input[name=address]", "bob@example.com")
    type_in("input[name=password]", "secret")
    click("form[action='/account/sign-in'] button")
    check(url().endswith("/mail"), url())
    wait_for("the page", lambda: js("return document.body.getAttribute('data-ready')"))
    wait_for("two messages", lambda: row("Plans for Friday") and row("Big offer"))
    check(js("return document.querySelector('#folders [aria-current]').textContent").startswith("Inbox"), "inbox chosen")
    unread = js("return document.querySelector('#folders [aria-current] .unread').textContent")
    check(unread == "2", "unread count", unread)
    shot("2-inbox")
    # read ann's message: its text is in the sandboxed frame
    open_row("Plans for Friday")
    frame("iframe.body")
    wait_for("the body", lambda: "Hello Bob, lunch on Friday?" in source())
    top()
    shot("3-reading")
    # reply
    js("for (const b of document.querySelectorAll('#reader .actions button')) if (b.textContent === 'Reply') b.click();")
    wait_for("the composer", lambda: js("return !document.getElementById('composer').hidden"))
    check(js("return document.getElementById('to').value") == "ann@example.com", "reply to")
    check(js("return document.getElementById('subject').value") == "Re: Plans for Friday", "subject")
    e = find("#body")
    wd("POST", S + "/element/%s/value" % e, {{"text": "Yes, noon at the usual place."}})
    shot("4-reply")
    wd("POST", S + "/element/%s/click" % find("#send"), {{}})
    wait_for("sent", lambda: js("return document.getElementById('status').textContent") == "Sent.")
    shot("5-sent")
    # the hostile message: no script ran, no image was fetched
    open_row("Big offer")
    frame("iframe.body")
    wait_for("the offer", lambda: "Buy now" in source())
    page = source()
    check("<script" not in page and "pwned" not in page and "javascript:" not in page, page)
    check(PIXEL not in page, page)
    top()
    wait_for("the blocked-images note", lambda: js("const p = document.querySelector('#reader p.blocked'); return p && p.textContent"))
    check(js("return document.querySelector('#reader p.blocked').textContent").startswith("1 remote image blocked."), "note")
    check(js("return document.title") != "pwned", "the parent's title")
    check(HITS == [], "the pixel was fetched", HITS)
    shot("6-hostile-blocked")
    wd("POST", S + "/element/%s/click" % find("#reader p.blocked button"), {{}})
    wait_for("the pixel fetched once asked", lambda: HITS)
    frame("iframe.body")
    wait_for("the offer with images", lambda: PIXEL in source())
    page = source()
    check("<script" not in page and "pwned" not in page, page)
    top()
    check(js("return document.title") != "pwned", "the parent's title")
    shot("7-images-shown")
    # search
    type_in("#q", "lunch")
    wd("POST", S + "/element/%s/click" % find("#search button"), {{}})
    # the thread of ann's message and bob's reply (which quotes it): shown once, as its newest
    wait_for("search results", lambda: js("return document.getElementById('list-title').textContent") == 'Search: "lunch"' and row("Re: Plans for Friday"))
    check(js("return document.querySelector('#rows .count').textContent") == "(2)", "two in the thread")
    check(not row("Big offer"), "search narrowed")
    shot("8-search")
finally:
    finish()
"##,
        art = artefacts.display().to_string(),
        profile = profile.path().display().to_string(),
        smtp_ip = h.smtp.ip(),
        smtp_port = h.smtp.port(),
        cert = h.dir.path().join("tls/self-signed.crt").display().to_string(),
        key = h.dir.path().join("tls/self-signed.key").display().to_string(),
    ))
    .await;
    // the reply arrived in ann's INBOX, answering ann's message
    let inbox = h.inbox("ann@example.com").await;
    let reply = inbox
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .find(|m| m.contains("Subject: Re: Plans for Friday"))
        .expect("the reply arrived");
    assert!(reply.contains("Yes, noon at the usual place."), "{reply}");
    assert!(
        reply.contains("In-Reply-To: <plans@example.com>"),
        "{reply}"
    );
    for step in [
        "1-sign-in",
        "2-inbox",
        "3-reading",
        "4-reply",
        "5-sent",
        "6-hostile-blocked",
        "7-images-shown",
        "8-search",
    ] {
        let png = std::fs::read(artefacts.join(format!("{step}.png"))).expect("screenshot");
        assert!(png.starts_with(b"\x89PNG") && png.len() > 1000, "{step}");
    }
}
