//! The client set-up documents checked against XML Schemas, fetched over real sockets from
//! the real server: Thunderbird's autoconfig (crates/web/tests/schemas/autoconfig-v1.1.xsd,
//! written from Mozilla's format page and the ISPDB's validator, and itself checked against
//! the ISPDB's own example) and Outlook's POX autodiscover (the request and response schemas
//! in crates/web/tests/schemas/, written from Microsoft's published element definitions).
//! Validation is lxml's (Debian's python3-lxml, for /usr/bin/python3); each schema is also
//! shown to refuse broken copies of our documents, so that a passing test means something.

mod common;

use std::path::PathBuf;

use common::host;
use estafeta_testkit::HOST;

/// Python helpers besides the shared HTTP ones (`common::HTTP`): `schema(name)` loads one
/// of our XSDs; `valid(schema, doc, what)` insists on a document passing, `invalid(…)` on
/// it failing.
const PRELUDE: &str = r#"
import copy, os
from lxml import etree
def schema(name):
    return etree.XMLSchema(etree.parse(os.path.join(SCHEMAS, name)))
def valid(s, doc, what):
    try:
        s.assertValid(doc)
    except etree.DocumentInvalid as e:
        check(False, what, "does not validate:", e, etree.tostring(doc).decode())
def invalid(s, doc, what):
    check(not s.validate(doc), what, "validates but must not:", etree.tostring(doc).decode())
def mutated(doc, path, change, ns=None):
    """A copy of doc with change(element) applied to the first element at path."""
    d = copy.deepcopy(doc)
    e = d.find(path, ns)
    check(e is not None, "no", path, "in", etree.tostring(doc).decode())
    change(e)
    return d
def text(value):
    def f(e): e.text = value
    return f
def attr(name, value):
    def f(e): e.set(name, value)
    return f
def drop(e): e.getparent().remove(e)
"#;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemas")
}

/// Runs the script under Debian's /usr/bin/python3, where python3-lxml is installed (the
/// testkit's `python()` runs whichever python3 is first on PATH, which may not have it).
async fn run(script: &str) -> String {
    let dir = schemas_dir().display().to_string();
    let out = tokio::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(format!(
            "SCHEMAS = {dir:?}\n{}{PRELUDE}\n{script}",
            common::HTTP
        ))
        .output()
        .await
        .expect("/usr/bin/python3 runs (apt install python3-lxml)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test]
async fn thunderbird_autoconfig_passes_the_autoconfig_schema() {
    let h = host(|_| {}).await;
    let http = h.listeners[0];
    let out = run(&format!(
        r#"
S = schema("autoconfig-v1.1.xsd")
# the schema is not tailored to our output: the ISPDB validator's own example passes
valid(S, etree.parse(os.path.join(SCHEMAS, "ispdb-valid_config.xml")), "the ISPDB example")
for path, host in [("/mail/config-v1.1.xml?emailaddress=bob%40example.com", "autoconfig.example.com"),
                   ("/.well-known/autoconfig/mail/config-v1.1.xml", "example.com")]:
    status, headers, body = get("http://{http}" + path, host=host)
    check(status == 200, path, status, body)
    doc = etree.fromstring(body).getroottree()
    valid(S, doc, path)
    check(doc.getroot().find("emailProvider/outgoingServer/hostname").text == "{HOST}", body)
    # and the schema constrains: each of these broken copies must fail
    for where, change, why in [
        ("emailProvider/incomingServer/socketType", text("TLS"), "socketType TLS"),
        ("emailProvider/outgoingServer/socketType", text("ssl"), "socketType in lower case"),
        ("emailProvider/incomingServer/username", drop, "no username"),
        ("emailProvider/outgoingServer/authentication", drop, "no authentication"),
        ("emailProvider/incomingServer/port", text("0"), "port 0"),
        ("emailProvider/incomingServer/port", text("65536"), "port 65536"),
        ("emailProvider/incomingServer/port", text("imaps"), "port not a number"),
        ("emailProvider/incomingServer/authentication", text("plain"), "authentication plain"),
        ("emailProvider/incomingServer/username", text("%EMAILUSER%"), "unknown placeholder"),
        ("emailProvider/incomingServer", attr("type", "smtp"), "incoming smtp"),
        ("emailProvider/outgoingServer", attr("type", "imap"), "outgoing imap"),
        ("emailProvider/domain", drop, "no domain"),
        ("emailProvider/displayName", drop, "no displayName"),
        (".", attr("version", "1.0"), "version 1.0"),
    ]:
        invalid(S, mutated(doc, where, change), path + ": " + why)
print("ok")
"#
    ))
    .await;
    assert_eq!(out.trim(), "ok");
}

#[tokio::test]
async fn outlook_autodiscover_passes_the_pox_schemas_and_json_has_the_documented_shape() {
    let h = host(|_| {}).await;
    let https = h.listeners[1];
    let out = run(&format!(
        r#"
REQUEST = schema("autodiscover-request-2006.xsd")
RESPONSE = schema("autodiscover-response-2006.xsd")
NS = {{"a": "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006",
      "o": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a",
      "q": "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"}}
# Outlook's request, as Microsoft's "Autodiscover Request (POX)" example has it
REQ = b'''<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request><EMailAddress>bob@example.com</EMailAddress>
  <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request></Autodiscover>'''
req = etree.fromstring(REQ).getroottree()
valid(REQUEST, req, "the request")
invalid(REQUEST, mutated(req, "q:Request/q:EMailAddress", drop, NS), "a request without an address")
invalid(REQUEST, mutated(req, "q:Request/q:AcceptableResponseSchema", drop, NS),
        "a request without AcceptableResponseSchema")
# the schemas are not tailored to our output: Microsoft's redirectAddr example (Exchange
# developer documentation, "Handling Autodiscover redirects") passes
valid(RESPONSE, etree.fromstring(b'''<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
  <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
    <Account>
      <Action>redirectAddr</Action>
      <RedirectAddr>elvin@mail.contoso.com</RedirectAddr>
    </Account>
  </Response>
</Autodiscover>''').getroottree(), "Microsoft's redirectAddr example")

for path in ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"]:
    status, headers, body = post("https://{https}" + path, REQ, host="autodiscover.example.com",
                                 headers={{"Content-Type": "text/xml"}})
    check(status == 200, path, status, body)
    doc = etree.fromstring(body).getroottree()
    valid(RESPONSE, doc, path)
    check([p.findtext("o:Type", namespaces=NS) for p in doc.findall("o:Response/o:Account/o:Protocol", NS)]
          == ["IMAP", "POP3", "SMTP"], body)
    P = "o:Response/o:Account/o:Protocol/"
    for where, change, why in [
        (P + "o:Encryption", text("STARTTLS"), "Encryption STARTTLS"),
        (P + "o:SSL", text("yes"), "SSL yes"),
        (P + "o:AuthRequired", text("true"), "AuthRequired true"),
        (P + "o:Type", drop, "a Protocol without Type"),
        (P + "o:Type", text("IMAPS"), "Type IMAPS"),
        (P + "o:Port", text("0"), "Port 0"),
        (P + "o:Port", text("993x"), "Port not a number"),
        (P + "o:Server", lambda e: e.addnext(copy.deepcopy(e)), "two Servers"),
        (P + "o:Server", lambda e: e.addnext(etree.Element("{{%s}}Hostname" % NS["o"])), "an unknown element"),
        ("o:Response/o:Account/o:Action", text("config"), "Action config"),
        ("o:Response/o:Account/o:Action", drop, "no Action"),
        ("o:Response/o:Account", drop, "no Account"),
    ]:
        invalid(RESPONSE, mutated(doc, where, change, NS), path + ": " + why)

# the JSON variant: {{"Protocol": "AutodiscoverV1", "Url": "https://…/autodiscover/autodiscover.xml"}},
# as Microsoft documents the answer of /autodiscover/autodiscover.json/v1.0/<address>
for url in ["/autodiscover/autodiscover.json/v1.0/bob@example.com?Protocol=AutodiscoverV1",
            "/autodiscover/autodiscover.json?Email=bob%40example.com&Protocol=AutodiscoverV1"]:
    status, headers, body = get("https://{https}" + url, host="autodiscover.example.com")
    check(status == 200, url, status, body)
    check(headers["Content-Type"].startswith("application/json"), headers["Content-Type"])
    answer = json.loads(body)
    check(isinstance(answer, dict) and sorted(answer) == ["Protocol", "Url"], answer)
    check(answer["Protocol"] == "AutodiscoverV1", answer)
    u = urllib.parse.urlsplit(answer["Url"])
    check(u.scheme == "https" and u.netloc == "autodiscover.example.com"
          and u.path.lower() == "/autodiscover/autodiscover.xml" and not u.query, answer)
print("ok")
"#
    ))
    .await;
    assert_eq!(out.trim(), "ok");
}
