//! The HTTP side over real sockets, driven by Python's urllib (a real HTTP client) and
//! checked with Python's XML and plist parsers: autoconfig, autodiscover, the MTA-STS
//! policy, the account page's sign-in, its settings and Apple profile, metrics, and what
//! the server does with hostile requests.

mod common;

use std::net::SocketAddr;

use common::host;
use estafeta_testkit::{HOST, MailHost, python};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the scripts of this file import besides the shared HTTP helpers.
const IMPORTS: &str = "import plistlib\nimport xml.etree.ElementTree as ET\n";

async fn run(script: &str) -> String {
    String::from_utf8(python(&format!("{}{IMPORTS}\n{script}", common::HTTP)).await).expect("utf-8")
}

fn ports(h: &MailHost) -> (SocketAddr, SocketAddr) {
    (h.listeners[0], h.listeners[1])
}

#[tokio::test]
async fn thunderbird_autoconfig_lists_tls_ports_first_and_never_plaintext() {
    let h = host(|_| {}).await;
    let (http, _) = ports(&h);
    let (imaps, imap, subs, sub, pop3s) = (
        h.listeners[2].port(),
        h.listeners[3].port(),
        h.listeners[4].port(),
        h.listeners[5].port(),
        h.listeners[6].port(),
    );
    run(&format!(
        r#"
for path, host in [("/mail/config-v1.1.xml?emailaddress=bob%40example.com", "autoconfig.example.com"),
                   ("/.well-known/autoconfig/mail/config-v1.1.xml", "example.com")]:
    status, headers, body = get("http://{http}" + path, host=host)
    check(status == 200, path, status, body)
    check(headers["Content-Type"].startswith("application/xml"), headers["Content-Type"])
    root = ET.fromstring(body)
    check(root.tag == "clientConfig" and root.get("version") == "1.1", root.tag)
    p = root.find("emailProvider")
    check(p.get("id") == "example.com" and p.findtext("domain") == "example.com", body)
    servers = [(s.get("type"), s.findtext("hostname"), int(s.findtext("port")), s.findtext("socketType"),
                s.findtext("authentication"), s.findtext("username"))
               for s in p.findall("incomingServer") + p.findall("outgoingServer")]
    want = [("imap", "{HOST}", {imaps}, "SSL"), ("imap", "{HOST}", {imap}, "STARTTLS"),
            ("pop3", "{HOST}", {pop3s}, "SSL"),
            ("smtp", "{HOST}", {subs}, "SSL"), ("smtp", "{HOST}", {sub}, "STARTTLS")]
    check([s[:4] for s in servers] == want, servers)
    check(all(s[4] == "password-cleartext" and s[5] == "%EMAILADDRESS%" for s in servers), servers)
# a domain that is not ours gets nothing
status, _, _ = get("http://{http}/mail/config-v1.1.xml?emailaddress=x%40elsewhere.test", host="autoconfig.elsewhere.test")
check(status == 404, status)
status, _, _ = get("http://{http}/mail/config-v1.1.xml", host="autoconfig.elsewhere.test")
check(status == 404, status)
"#
    ))
    .await;
}

#[tokio::test]
async fn outlook_autodiscover_answers_pox_and_json_for_our_domains() {
    let h = host(|_| {}).await;
    let (_, https) = ports(&h);
    let (imaps, subs, pop3s) = (
        h.listeners[2].port(),
        h.listeners[4].port(),
        h.listeners[6].port(),
    );
    run(&format!(
        r#"
REQ = '''<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request><EMailAddress>{{}}</EMailAddress>
  <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request></Autodiscover>'''
NS = {{"a": "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006",
      "o": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}}
# Outlook spells the path either way
for path in ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"]:
    status, headers, body = post("https://{https}" + path, REQ.format("bob@example.com").encode(),
                                 host="autodiscover.example.com", headers={{"Content-Type": "text/xml"}})
    check(status == 200, path, status, body)
    root = ET.fromstring(body)
    check(root.tag == "{{%s}}Autodiscover" % NS["a"], root.tag)
    account = root.find("o:Response/o:Account", NS)
    check(account.findtext("o:AccountType", namespaces=NS) == "email", body)
    check(account.findtext("o:Action", namespaces=NS) == "settings", body)
    got = [(p.findtext("o:Type", namespaces=NS), p.findtext("o:Server", namespaces=NS),
            int(p.findtext("o:Port", namespaces=NS)), p.findtext("o:SSL", namespaces=NS),
            p.findtext("o:Encryption", namespaces=NS), p.findtext("o:LoginName", namespaces=NS),
            p.findtext("o:AuthRequired", namespaces=NS))
           for p in account.findall("o:Protocol", NS)]
    check(got == [("IMAP", "{HOST}", {imaps}, "on", "SSL", "bob@example.com", "on"),
                  ("POP3", "{HOST}", {pop3s}, "on", "SSL", "bob@example.com", "on"),
                  ("SMTP", "{HOST}", {subs}, "on", "SSL", "bob@example.com", "on")], got)
# refusals: another domain, no address, not XML, a GET
status, _, _ = post("https://{https}/autodiscover/autodiscover.xml", REQ.format("x@elsewhere.test").encode())
check(status == 404, status)
for junk in [b"", b"<Autodiscover/>", b"\xff\xfe not xml", b"<a>" * 10000]:
    status, _, _ = post("https://{https}/autodiscover/autodiscover.xml", junk)
    check(status == 400, junk[:20], status)
status, headers, _ = get("https://{https}/autodiscover/autodiscover.xml")
check(status == 405 and headers["Allow"] == "POST", status)
# the JSON variant points at the XML one; other protocols are refused as Exchange does
status, _, body = get("https://{https}/autodiscover/autodiscover.json/v1.0/bob@example.com?Protocol=AutodiscoverV1",
                      host="autodiscover.example.com")
check(status == 200, status, body)
check(json.loads(body) == {{"Protocol": "AutodiscoverV1",
                           "Url": "https://autodiscover.example.com/autodiscover/autodiscover.xml"}}, body)
status, _, body = get("https://{https}/autodiscover/autodiscover.json?Email=bob%40example.com&Protocol=ActiveSync")
check(status == 400 and json.loads(body)["ErrorCode"] == "InvalidProtocol", status, body)
status, _, _ = get("https://{https}/autodiscover/autodiscover.json?Email=x%40elsewhere.test&Protocol=AutodiscoverV1")
check(status == 404, status)
"#
    ))
    .await;
}

#[tokio::test]
async fn mta_sts_policy_is_served_for_our_domains_only() {
    let h = host(|c| c.web.mta_sts_mode = estafeta_config::MtaStsMode::Enforce).await;
    let (_, https) = ports(&h);
    run(&format!(
        r#"
status, headers, body = get("https://{https}/.well-known/mta-sts.txt", host="mta-sts.example.com")
check(status == 200, status, body)
check(headers["Content-Type"] == "text/plain", headers["Content-Type"])
check(body == b"version: STSv1\r\nmode: enforce\r\nmx: {HOST}\r\nmax_age: 604800\r\n", body)
for host in ["mta-sts.elsewhere.test", "example.com", "{HOST}"]:
    status, _, _ = get("https://{https}/.well-known/mta-sts.txt", host=host)
    check(status == 404, host, status)
"#
    ))
    .await;
}

#[tokio::test]
async fn account_page_signs_in_shows_settings_and_hands_out_a_profile() {
    let h = host(|_| {}).await;
    let (http, https) = ports(&h);
    let (imaps, subs) = (h.listeners[2].port(), h.listeners[4].port());
    run(&format!(
        r#"
import re
base = "https://{https}"
status, _, body = get(base + "/account")
check(status == 200 and b'name="password"' in body, status, body)
# wrong password: refused, no cookie
status, headers, body = post(base + "/account/sign-in", {{"address": "bob@example.com", "password": "nope"}})
check(status == 401 and b"Wrong address or password" in body and "Set-Cookie" not in headers, status, body)
# a form posted from another site is refused before the password is looked at
status, _, _ = post(base + "/account/sign-in", {{"address": "bob@example.com", "password": "secret"}},
                    headers={{"Origin": "https://evil.test"}})
check(status == 403, status)
# right password: a secure session cookie, then the settings
status, headers, _ = post(base + "/account/sign-in", {{"address": "Bob@Example.com", "password": "secret"}})
check(status == 303 and headers["Location"] == "/account", status)
cookie = headers["Set-Cookie"]
for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"]:
    check(attr in cookie, attr, cookie)
jar = {{"Cookie": cookie.split(";")[0]}}
status, headers, body = get(base + "/account", headers=jar)
check(status == 200 and b"Mail settings for bob@example.com" in body, status, body)
check("script-src" not in headers["Content-Security-Policy"] and "default-src 'none'" in headers["Content-Security-Policy"], headers)
text = body.decode()
check("<td>Receiving: IMAP</td><td>{HOST}</td><td>{imaps}</td><td>SSL/TLS</td>" in text, text)
check("<td>Sending: SMTP</td><td>{HOST}</td><td>{subs}</td><td>SSL/TLS</td>" in text, text)
# the Apple profile parses as a plist and names this account's servers
status, headers, body = get(base + "/account/profile.mobileconfig", headers=jar)
check(status == 200 and headers["Content-Type"] == "application/x-apple-aspen-config", status)
profile = plistlib.loads(body)
check(profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1, profile)
mail = profile["PayloadContent"][0]
check(mail["PayloadType"] == "com.apple.mail.managed", mail)
check((mail["EmailAddress"], mail["IncomingMailServerHostName"], mail["IncomingMailServerPortNumber"],
       mail["IncomingMailServerUseSSL"], mail["OutgoingMailServerPortNumber"], mail["OutgoingMailServerUsername"])
      == ("bob@example.com", "{HOST}", {imaps}, True, {subs}, "bob@example.com"), mail)
# without a session: back to the sign-in
status, headers, _ = get(base + "/account/profile.mobileconfig")
check(status == 303 and headers["Location"] == "/account", status)
# a forged or altered cookie is nobody
forged = jar["Cookie"][:-1] + ("0" if jar["Cookie"][-1] != "0" else "1")
status, _, body = get(base + "/account", headers={{"Cookie": forged}})
check(b'name="password"' in body, body)
# sign-out needs the form's token
status, _, _ = post(base + "/account/sign-out", {{"token": "0" * 64}}, headers=jar)
check(status == 403, status)
token = re.search(r'name="token" value="([0-9a-f]+)"', text).group(1)
status, headers, _ = post(base + "/account/sign-out", {{"token": token}}, headers=jar)
check(status == 303 and "Max-Age=0" in headers["Set-Cookie"], status, headers)
# plain HTTP from loopback without allow_plaintext_on_loopback: no password taken
status, _, body = get("http://{http}/account")
check(b"Passwords are taken over HTTPS only" in body and b'name="password"' not in body, body)
status, _, _ = post("http://{http}/account/sign-in", {{"address": "bob@example.com", "password": "secret"}})
check(status == 403, status)
"#
    ))
    .await;
}

/// Failed web sign-ins count in the same throttle as IMAP logins: after the limit, the
/// right password is refused on both.
#[tokio::test]
async fn web_sign_in_shares_the_login_throttle_with_imap() {
    let h = host(|_| {}).await;
    let (_, https) = ports(&h);
    let imaps = h.listeners[2];
    run(&format!(
        r#"
import imaplib
base = "https://{https}"
for _ in range(3):
    status, _, _ = post(base + "/account/sign-in", {{"address": "ann@example.com", "password": "wrong"}})
    check(status == 401, status)
status, _, body = post(base + "/account/sign-in", {{"address": "ann@example.com", "password": "secret"}})
check(status == 429 and b"Too many failed sign-ins" in body, status, body)
imap = imaplib.IMAP4_SSL("{ip}", {port}, ssl_context=CTX)
try:
    imap.login("ann@example.com", "secret")
    check(False, "IMAP login went through a blocked throttle")
except imaplib.IMAP4.error as e:
    pass
"#,
        ip = imaps.ip(),
        port = imaps.port()
    ))
    .await;
}

#[tokio::test]
async fn metrics_show_connections_queue_and_accepted_mail_to_allowed_networks_only() {
    let h = host(|_| {}).await;
    let (http, _) = ports(&h);
    h.deliver("bob@example.com", "counted").await;
    let body = run(&format!(
        r#"
status, headers, body = get("http://{http}/metrics")
check(status == 200 and headers["Content-Type"].startswith("text/plain"), status)
print(body.decode())
"#
    ))
    .await;
    for want in [
        "estafeta_connections_open{protocol=\"imap\"}",
        "estafeta_connections_open{protocol=\"http\"} 1",
        "estafeta_queue_messages 0",
        "estafeta_queue_oldest_age_seconds 0",
        "estafeta_smtp_messages_total{result=\"accepted\"}",
        "estafeta_connections_total{protocol=\"smtp\"}",
        "estafeta_store_commit_seconds_bucket",
    ] {
        assert!(body.contains(want), "{want} missing from:\n{body}");
    }
    let refused = host(|c| c.web.metrics_networks = vec!["192.0.2.0/24".into()]).await;
    let (http, _) = ports(&refused);
    run(&format!(
        r#"
status, _, body = get("http://{http}/metrics")
check(status == 403 and b"web.metrics_networks" in body, status, body)
"#
    ))
    .await;
}

/// Raw bytes on the socket: what hyper and our limits make of requests no browser sends.
#[tokio::test]
async fn hostile_requests_get_http_errors_and_the_server_keeps_serving() {
    let h = host(|_| {}).await;
    let (http, _) = ports(&h);
    async fn exchange(at: SocketAddr, request: &[u8]) -> String {
        let mut s = tokio::net::TcpStream::connect(at).await.expect("connect");
        // the server may close before reading it all
        let _ = s.write_all(request).await;
        let mut out = Vec::new();
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(20), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }
    let huge_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Junk: {}\r\n\r\n",
        "a".repeat(100_000)
    );
    let status = |r: &str| r.lines().next().unwrap_or("").to_string();
    assert!(
        status(&exchange(http, huge_header.as_bytes()).await).starts_with("HTTP/1.1 431"),
        "an oversize header block"
    );
    // far over: hyper stops reading, answers 431 and closes; the kernel may reset the
    // connection first (the request's rest is unread), which loses the answer
    let enormous = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Junk: {}\r\n\r\n",
        "a".repeat(1_000_000)
    );
    let answer = status(&exchange(http, enormous.as_bytes()).await);
    assert!(
        answer.starts_with("HTTP/1.1 431") || answer.is_empty(),
        "a header block far over the limit: {answer}"
    );
    assert!(
        status(&exchange(http, b"\x16\x03\x01garbage\r\n\r\n").await).starts_with("HTTP/1.1 400"),
        "not HTTP"
    );
    let big_body = format!(
        "POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        200_000,
        "a".repeat(200_000)
    );
    assert!(
        status(&exchange(http, big_body.as_bytes()).await).starts_with("HTTP/1.1 413"),
        "a body over the limit"
    );
    let promised = "POST /account/sign-in HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\nConnection: close\r\n\r\nshort";
    assert!(
        status(&exchange(http, promised.as_bytes()).await).starts_with("HTTP/1.1 413"),
        "a body promised far over the limit is refused without waiting for it"
    );
    let fine = exchange(
        http,
        b"GET /account HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(status(&fine).starts_with("HTTP/1.1 200"), "{fine}");
}

/// An administrator signs in and changes what the CLI changes; a user who is not one
/// cannot, nor can a form without the session's token.
#[tokio::test]
async fn admin_pages_change_domains_users_aliases_and_suppression() {
    let h = host(|_| {}).await;
    h.store
        .set_admin("bob@example.com", true)
        .await
        .expect("admin");
    let (_, https) = ports(&h);
    run(&format!(
        r#"
import re, urllib.parse
base = "https://{https}"
def sign_in(address):
    status, headers, _ = post(base + "/account/sign-in", {{"address": address, "password": "secret"}})
    check(status == 303, address, status)
    return {{"Cookie": headers["Set-Cookie"].split(";")[0]}}
bob = sign_in("bob@example.com")
status, _, body = get(base + "/account", headers=bob)
check(b'href="/admin"' in body, body)
status, headers, _ = get(base + "/admin", headers=bob)
check(status == 303 and headers["Location"] == "/admin/statistics", status)
status, _, body = get(base + "/admin/domains", headers=bob)
check(status == 200 and b"<td>example.com</td>" in body, status, body)
token = re.search(rb'name="token" value="([0-9a-f]+)"', body).group(1).decode()
def change(action, **fields):
    status, headers, _ = post(base + "/admin/" + action, dict(fields, token=token), headers=bob)
    check(status == 303, action, status)
    section, query = headers["Location"].split("?", 1)
    said = urllib.parse.parse_qs(query)
    status, _, page = get(base + section, headers=bob)
    check(status == 200, section, status)
    return said, page
said, page = change("domain-add", name="Second.Test")
check(said == {{"done": ["domain second.test added"]}}, said)
check(b"<td>second.test</td>" in page, page)
said, _ = change("domain-add", name="not a domain")
check("error" in said, said)
said, page = change("user-add", address="carol@second.test", password=" spaced pass ", quota_mb="5")
check(said == {{"done": ["user carol@second.test added"]}}, said)
check(b"<td>carol@second.test</td><td>5 MB</td>" in page, page)
check(b"<td>carol@second.test</td><td>5 MB</td><td></td><td>POP3 keeps</td>" in page, page)
said, page = change("user-pop3", address="carol@second.test", pop3="delete")
check(said == {{"done": ["POP3 deletes the mail of carol@second.test once downloaded"]}}, said)
check(b"<td>carol@second.test</td><td>5 MB</td><td></td><td>POP3 deletes</td>" in page, page)
said, _ = change("user-pop3", address="carol@second.test", pop3="sometimes")
check("error" in said, said)
# the password keeps its spaces: carol signs in with it
status, _, _ = post(base + "/account/sign-in", {{"address": "carol@second.test", "password": " spaced pass "}})
check(status == 303, "carol", status)
said, page = change("alias-add", address="sales@second.test", targets="carol@second.test, bob@example.com")
check(b"<td>sales@second.test</td><td>bob@example.com</td>" in page and b"<td>carol@second.test</td>" in page, page)
said, page = change("alias-remove", address="sales@second.test", target="bob@example.com")
check(b"<td>sales@second.test</td><td>bob@example.com</td>" not in page, page)
said, page = change("suppression-add", domain="example.com", address="gone@outside.test", reason="550 5.1.1 no such user")
check(b"<td>gone@outside.test</td><td>550 5.1.1 no such user</td>" in page, page)
said, page = change("suppression-enforce", domain="example.com", on="yes")
check(b"refused at RCPT" in page, page)
said, page = change("suppression-remove", domain="example.com", address="gone@outside.test")
check(b"gone@outside.test" not in page, page)
said, page = change("dkim-generate", domain="second.test", algorithm="ed25519")
check(said["done"][0].startswith("keys ed25519-") and said["done"][0].endswith("made for second.test: publish their records"), said)
selector = said["done"][0].split()[1]
check(("<td>second.test</td><td>%s</td><td>ed25519</td><td>signing</td>" % selector).encode() in page, page)
check(("%s._domainkey.second.test. IN TXT" % selector).encode() in page and b"k=ed25519; p=" in page, page)
said, page = change("dkim-retire", domain="second.test", selector=selector)
check(("<td>%s</td><td>ed25519</td><td>retired</td>" % selector).encode() in page, page)
said, page = change("dkim-generate", domain="second.test", algorithm="dsa")
check(said == {{"error": ['unknown algorithm "dsa"']}}, said)
said, page = change("dkim-remove", domain="second.test", selector=selector)
check(selector.encode() not in page, page)
said, page = change("queue-retry")
check(said == {{"done": ["0 recipients due now"]}}, said)
check(b"0 messages queued" in page, page)
said, _ = change("queue-delete", id="nosuchid")
check(said == {{"error": ["nosuchid is not in the queue"]}}, said)
said, page = change("user-admin", address="carol@second.test", admin="yes")
check(b"<td>carol@second.test</td><td>5 MB</td><td>admin</td>" in page, page)
said, page = change("user-remove", address="carol@second.test")
check(b"carol@second.test</td>" not in page, page)
# markup in what the store returns is shown as text
said, page = change("domain-add", name="<script>x</script>")
check(b"<script>" not in page, page)
# refusals: no token, a wrong token, another site, not an administrator, no session
status, _, _ = post(base + "/admin/domain-add", {{"name": "third.test"}}, headers=bob)
check(status == 403, status)
status, _, _ = post(base + "/admin/domain-add", {{"name": "third.test", "token": "0" * 64}}, headers=bob)
check(status == 403, status)
status, _, _ = post(base + "/admin/domain-add", {{"name": "third.test", "token": token}},
                    headers=dict(bob, Origin="https://evil.test"))
check(status == 403, status)
ann = sign_in("ann@example.com")
status, _, body = get(base + "/admin/users", headers=ann)
check(status == 403 and b"for administrators" in body, status)
status, _, _ = post(base + "/admin/domain-add", {{"name": "third.test", "token": token}}, headers=ann)
check(status == 403, status)
status, headers, _ = get(base + "/admin/users")
check(status == 303 and headers["Location"] == "/account", status)
status, _, _ = get(base + "/admin/nosuch", headers=bob)
check(status == 404, status)
"#
    ))
    .await;
    assert!(
        !h.store.is_local_domain("third.test").await.expect("lookup"),
        "no refused change went through"
    );
}

/// Mail accepted and refused over SMTP shows on the statistics page, in its CSV, and
/// under its domain.
#[tokio::test]
async fn statistics_page_counts_accepted_delivered_and_refused_mail() {
    let h = host(|_| {}).await;
    h.store
        .set_admin("bob@example.com", true)
        .await
        .expect("admin");
    h.deliver("ann@example.com", "counted").await;
    let (_, https) = ports(&h);
    run(&format!(
        r#"
import smtplib
with smtplib.SMTP("{smtp_ip}", {smtp_port}) as s:
    s.ehlo("client.test")
    s.mail("someone@outside.test")
    code, _ = s.rcpt("nobody@example.com")
    check(code == 550, code)
    s.rset()
base = "https://{https}"
status, headers, _ = post(base + "/account/sign-in", {{"address": "bob@example.com", "password": "secret"}})
bob = {{"Cookie": headers["Set-Cookie"].split(";")[0]}}
status, headers, _ = get(base + "/admin", headers=bob)
check(status == 303 and headers["Location"] == "/admin/statistics", status)
status, _, body = get(base + "/admin/statistics", headers=bob)
text = body.decode()
check(status == 200 and "<svg" in text and "<script" not in text, status)
# the current hour: 1 accepted, 1 delivered, 0 deferred, 0 bounced, 1 refused
check("<td>1</td><td>1</td><td>0</td><td>0</td><td>1</td></tr>" in text, text)
check('<a href="/admin/statistics?domain=example.com">example.com</a></td><td>1</td><td>1</td>' in text, text)
status, _, body = get(base + "/admin/statistics?domain=example.com", headers=bob)
check("<td>1</td><td>1</td><td>0</td><td>0</td><td>0</td></tr>" in body.decode(), body)
status, headers, body = get(base + "/admin/statistics.csv", headers=bob)
check(status == 200 and headers["Content-Type"].startswith("text/csv"), status)
lines = body.decode().split("\r\n")
check(lines[0] == "hour,domain,user,event,count", lines[0])
rows = sorted(l.split(",", 1)[1] for l in lines[1:] if l)
check(rows == [",,refused,1", "example.com,,accepted,1", "example.com,,delivered,1"], rows)
# not for other users
status, headers, _ = post(base + "/account/sign-in", {{"address": "ann@example.com", "password": "secret"}})
ann = {{"Cookie": headers["Set-Cookie"].split(";")[0]}}
status, _, _ = get(base + "/admin/statistics.csv", headers=ann)
check(status == 403, status)
"#,
        smtp_ip = h.smtp.ip(),
        smtp_port = h.smtp.port()
    ))
    .await;
}

/// Open and click tracking, switched on for example.com only: bob's HTML mail reaches
/// ann with its links pointing at our signed redirect and an open image; following a
/// link counts a click and leads to the original address; the image counts an open;
/// both show on the statistics page; a changed link is refused. Plain-text mail and
/// another domain's mail arrive untouched.
#[tokio::test]
async fn tracking_rewrites_html_links_counts_opens_and_clicks_and_refuses_tampering() {
    let h = host(|_| {}).await;
    let store = &h.store;
    store
        .set_admin("bob@example.com", true)
        .await
        .expect("admin");
    store.add_domain("second.test").await.expect("domain");
    store
        .add_user(estafeta_store::NewUser {
            address: "carol@second.test".into(),
            password: "secret".into(),
            quota_bytes: 0,
            pop3_keep: true,
        })
        .await
        .expect("user");
    store
        .set_domain_tracking("example.com", true)
        .await
        .expect("tracking on");
    let subs = h.listeners[4];
    run(&format!(
        r#"
import smtplib, ssl
from email.message import EmailMessage
def send(user, subject, html=True):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = user, "ann@example.com", subject
    m.set_content("Plain: https://shop.test/plain")
    if html:
        m.add_alternative('<html><body><p>Hi <a href="https://shop.test/offer?a=1&amp;b=2">the offer</a> '
                          '<a href="mailto:bob@example.com">write</a></p></body></html>', subtype="html")
    with smtplib.SMTP_SSL("{ip}", {port}, context=CTX) as s:
        s.login(user, "secret")
        s.send_message(m)
send("bob@example.com", "Tracked news")
send("bob@example.com", "Only text", html=False)
send("carol@second.test", "Untracked news")
"#,
        ip = subs.ip(),
        port = subs.port()
    ))
    .await;
    let inbox = h.inbox("ann@example.com").await;
    assert_eq!(inbox.len(), 3, "three messages delivered");
    let dir = h.dir.path();
    for (i, m) in inbox.iter().enumerate() {
        std::fs::write(dir.join(format!("m{i}.eml")), m).expect("write");
    }
    let (_, https) = ports(&h);
    run(&format!(
        r#"
import email, email.policy, re, urllib.parse, base64
def html_of(i):
    m = email.message_from_bytes(open("{dir}/m%d.eml" % i, "rb").read(), policy=email.policy.default)
    part = m.get_body(preferencelist=("html",))
    return m, (part.get_content() if part and part.get_content_type() == "text/html" else None)
m, html = html_of(0)
check(m["Subject"] == "Tracked news", m["Subject"])
check("shop.test" not in html, html)
check('href="mailto:bob@example.com"' in html, html)
links = re.findall(r'href="(https://[^"]+/t/c/[^"]+)"', html)
check(len(links) == 1, links)
images = re.findall(r'<img src="(https://[^"]+/t/o/[^"]+)"', html)
check(len(images) == 1 and html.index("<img") < html.index("</body>"), html)
check(m.get_body(preferencelist=("plain",)).get_content().strip() == "Plain: https://shop.test/plain", "plain part untouched")
_, plain = html_of(1)
check(plain is None, plain)
m2, other = html_of(2)
check('href="https://shop.test/offer?a=1&amp;b=2"' in other and "/t/o/" not in other, other)
base = "https://{https}"
path = urllib.parse.urlsplit(links[0]).path
status, headers, _ = get(base + path)
check(status == 302 and headers["Location"] == "https://shop.test/offer?a=1&b=2", status, headers)
check(headers["Referrer-Policy"] == "no-referrer", headers)
status, headers, _ = get(base + path)
check(status == 302, status)
status, headers, body = get(base + urllib.parse.urlsplit(images[0]).path)
check(status == 200 and headers["Content-Type"] == "image/gif" and body.startswith(b"GIF89a"), status, headers)
check("no-store" in headers["Cache-Control"], headers)
# tampering: another address under the same signature, a changed signature, another id
parts = path.split("/")  # '', 't', 'c', id, sig, url
evil = base64.urlsafe_b64encode(b"https://evil.test/").decode().rstrip("=")
for bad in ["/".join(parts[:5] + [evil]),
            "/".join(parts[:4] + ["A" * 22, parts[5]]),
            "/".join(parts[:3] + ["0000000000000000"] + parts[4:]),
            "/t/c/x/y", "/t/o/" + parts[3] + "/" + "A" * 22]:
    status, headers, body = get(base + bad)
    check(status == 404 and "Location" not in headers, bad, status)
status, headers, _ = post(base + "/account/sign-in", {{"address": "bob@example.com", "password": "secret"}})
bob = {{"Cookie": headers["Set-Cookie"].split(";")[0]}}
status, _, body = get(base + "/admin/statistics", headers=bob)
text = body.decode()
row = re.search(r"<tr><td>[^<]*</td><td><code>%s</code></td>(.*?)</tr>" % parts[3], text)
check(row, text)
cells = re.findall(r"<td>(.*?)</td>", row.group(1))
# sender, subject, recipients, opens, first open, clicks, links clicked
check(cells[0] == "bob@example.com" and cells[1] == "Tracked news" and cells[2] == "1", cells)
check(cells[3] == "1" and cells[4] != "" and cells[5] == "2", cells)
check(cells[6] == "2 × https://shop.test/offer?a=1&amp;b=2<br>", cells)
check("Untracked news" not in text and "Only text" not in text, "only tracked mail listed")
status, _, body = get(base + "/admin/domains", headers=bob)
check("<td>on <form" in body.decode(), body)
"#,
        dir = dir.display()
    ))
    .await;
}

/// The account page's vacation form writes the user's Sieve script `vacation`, makes it
/// active in front of the script the user had (which keeps running), answers mail, and
/// turned off gives the user's own script back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vacation_form_writes_a_sieve_reply_and_gives_the_old_script_back() {
    let h = host(|_| {}).await;
    let bob = h.store.get_user("bob@example.com").await.unwrap().unwrap();
    h.store
        .put_sieve_script(bob.id, "mine", "require [\"fileinto\", \"mailbox\"];\nif header :contains \"subject\" \"[news]\" { fileinto :create \"News\"; }\n", 20, 1 << 20)
        .await
        .unwrap();
    h.store
        .activate_sieve_script(bob.id, Some("mine"))
        .await
        .unwrap();
    let (_, https) = ports(&h);
    let script = |on: bool| {
        format!(
            r#"
import re
base = "https://{https}"
status, headers, _ = post(base + "/account/sign-in", {{"address": "bob@example.com", "password": "secret"}})
jar = {{"Cookie": headers["Set-Cookie"].split(";")[0]}}
status, _, body = get(base + "/account", headers=jar)
text = body.decode()
check("Vacation reply" in text and 'action="/account/vacation"' in text, text)
token = re.search(r'name="token" value="([0-9a-f]+)"', text).group(1)
# without the form's token: refused
status, _, _ = post(base + "/account/vacation", {{"token": "0" * 64, "on": "on"}}, headers=jar)
check(status == 403, status)
form = {{"token": token, "days": "3", "subject": 'Away "till" Monday', "text": "Back on Monday.\n.dot line"}}
if {on}:
    form["on"] = "on"
status, headers, _ = post(base + "/account/vacation", form, headers=jar)
check(status == 303, status)
status, _, body = get(base + "/account", headers=jar)
text = body.decode()
check(("checked" in text) == {on}, text)
check("Away &quot;till&quot; Monday" in text and ".dot line" in text, text)
"#,
            on = if on { "True" } else { "False" }
        )
    };
    run(&script(true)).await;
    let listed = h.store.sieve_scripts(bob.id).await.unwrap();
    let active: Vec<&str> = listed
        .iter()
        .filter(|s| s.active)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(active, ["vacation"]);
    // mail arrives: answered, and the user's own rule still files it
    let body =
        "From: amy@outside.test\r\nTo: bob@example.com\r\nSubject: [news] weekly\r\n\r\nHello.\r\n";
    estafeta_net::testing::smtp_send(h.smtp, "amy@outside.test", "bob@example.com", body).await;
    let news = h
        .store
        .get_mailbox(bob.id, "News")
        .await
        .unwrap()
        .expect("filed by bob's own script");
    assert_eq!(h.store.list_messages(news.id).await.unwrap().len(), 1);
    assert!(h.inbox("bob@example.com").await.is_empty());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let reply = loop {
        let queued = h.store.queue_list().await.unwrap();
        if let Some(m) = queued.into_iter().find(|m| m.sender.is_empty()) {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "no vacation reply");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(reply.recipients[0].address, "amy@outside.test");
    let text = String::from_utf8_lossy(&h.store.queue_body(&reply.id).await.unwrap().unwrap())
        .into_owned();
    assert!(
        text.contains("Subject: Away \"till\" Monday") && text.contains(".dot line"),
        "{text}"
    );
    // turned off: the user's own script is active again, the reply kept for next time
    run(&script(false)).await;
    let listed = h.store.sieve_scripts(bob.id).await.unwrap();
    let active: Vec<&str> = listed
        .iter()
        .filter(|s| s.active)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(active, ["mine"]);
    assert!(listed.iter().any(|s| s.name == "vacation"));
}
