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
