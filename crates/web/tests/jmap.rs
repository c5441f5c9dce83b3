//! JMAP over real sockets: Python's urllib speaks HTTP to the https listener (and imaplib
//! IMAP, smtplib SMTP to the same server), jmapc (an independent JMAP client library from
//! PyPI) reads and sends mail. Each method of RFC 8620/8621 that the server offers is
//! called, with the RFC's examples; changes made over IMAP show up in `Email/changes`
//! and the reverse; push arrives on delivery; hostile requests get the RFC's errors.

mod common;

use common::host;
use estafeta_testkit::{MailHost, python};

/// Helpers of every script: `jmap(calls)` posts a request as bob with a bearer token
/// (taken once with Basic credentials), `ok(responses, i)` checks response `i` is not an
/// error and returns its arguments.
fn prelude(h: &MailHost) -> String {
    let https = h.listeners[1];
    let imaps = h.listeners[2];
    format!(
        r##"{http}
import base64, imaplib, smtplib, time, threading
BASE = "https://{https}"
IMAPS = ("127.0.0.1", {imaps_port})
SMTP = ("127.0.0.1", {smtp_port})
def basic(user, password):
    return {{"Authorization": "Basic " + base64.b64encode((user + ":" + password).encode()).decode()}}
def token(user="bob@example.com", password="secret"):
    s, _, b = post(BASE + "/jmap/token", b"", headers=basic(user, password))
    check(s == 200, "token", s, b)
    return {{"Authorization": "Bearer " + json.loads(b)["accessToken"]}}
BOB = token()
USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission", "urn:ietf:params:jmap:vacationresponse"]
def raw(request, auth=None):
    body = request if isinstance(request, bytes) else json.dumps(request).encode()
    return post(BASE + "/jmap/api", body, headers=dict(auth or BOB, **{{"Content-Type": "application/json"}}))
def jmap(calls, auth=None, using=USING):
    s, _, b = raw({{"using": using, "methodCalls": calls}}, auth)
    check(s == 200, "api", s, b)
    return json.loads(b)["methodResponses"]
def ok(responses, i=0):
    name, args, _ = responses[i]
    check(name != "error", "method failed", responses[i])
    return args
def err(responses, i=0):
    name, args, _ = responses[i]
    check(name == "error", "expected an error", responses[i])
    return args["type"]
SESSION = json.loads(get(BASE + "/jmap/session", headers=BOB)[2])
ACC = SESSION["primaryAccounts"]["urn:ietf:params:jmap:mail"]
def mailboxes():
    got = ok(jmap([["Mailbox/get", {{"accountId": ACC}}, "0"]]))
    return {{m["role"] or m["name"]: m for m in got["list"]}}
def smtp_deliver(to, subject, extra="", body="Hello there."):
    msg = "From: Carol <carol@outside.test>\r\nTo: " + to + "\r\nSubject: " + subject + "\r\n" + extra + "\r\n" + body + "\r\n"
    with smtplib.SMTP(*SMTP) as s:
        s.sendmail("carol@outside.test", [to], msg.encode())
def imap():
    m = imaplib.IMAP4_SSL(*IMAPS, ssl_context=CTX)
    m.login("bob@example.com", "secret")
    return m
"##,
        http = common::HTTP,
        imaps_port = imaps.port(),
        smtp_port = h.smtp.port(),
    )
}

async fn run(h: &MailHost, script: &str) -> String {
    String::from_utf8(python(&format!("{}\n{script}", prelude(h))).await).expect("utf-8")
}

/// The session resource, and who may have it: Basic over TLS through the shared
/// throttle, bearer tokens we signed, nothing else.
#[tokio::test]
async fn the_session_resource_and_authentication() {
    let h = host(|_| {}).await;
    let http = h.listeners[0];
    run(
        &h,
        &format!(
            r##"
check(SESSION["username"] == "bob@example.com", SESSION)
core = SESSION["capabilities"]["urn:ietf:params:jmap:core"]
check(core["maxCallsInRequest"] == 32 and core["maxObjectsInGet"] == 500 and core["maxSizeRequest"] == 4194304, core)
for cap in ["urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission", "urn:ietf:params:jmap:vacationresponse"]:
    check(SESSION["primaryAccounts"][cap] == ACC, cap)
check(SESSION["apiUrl"] == BASE + "/jmap/api", SESSION["apiUrl"])
check("{{blobId}}" in SESSION["downloadUrl"] and "{{accountId}}" in SESSION["uploadUrl"], SESSION)
# the well-known URL serves the same
s, _, b = get(BASE + "/.well-known/jmap", headers=basic("bob@example.com", "secret"))
check(s == 200 and json.loads(b)["username"] == "bob@example.com", s, b)
# nobody: 401 naming both schemes
s, h, _ = get(BASE + "/jmap/session")
check(s == 401 and "Basic" in h["WWW-Authenticate"] and "Bearer" in h["WWW-Authenticate"], s, h)
# a password is not taken over plaintext HTTP
s, _, _ = get("http://{http}/jmap/session", headers=basic("bob@example.com", "secret"))
check(s == 403, "plaintext", s)
# an altered token is refused (and counts as a failed login)
t = BOB["Authorization"]
altered = t[:-1] + ("0" if t[-1] != "0" else "1")
s, _, _ = get(BASE + "/jmap/session", headers={{"Authorization": altered}})
check(s == 401, "altered token", s)
# wrong passwords count with every protocol's: after 3, even the right one is refused
answers = [get(BASE + "/jmap/session", headers=basic("ann@example.com", "wrong"))[0] for _ in range(4)]
check(answers[0] == 401 and answers[-1] == 429 and set(answers) == {{401, 429}}, answers)
s, _, _ = get(BASE + "/jmap/session", headers=basic("ann@example.com", "secret"))
check(s == 429, "throttled", s)
# a forged or altered token is refused, and counts the same (this address is blocked now)
for forged in [altered, "Bearer x.y.z", "Bearer "]:
    s, _, _ = get(BASE + "/jmap/session", headers={{"Authorization": forged}})
    check(s == 429, forged, s)
for bad in ["Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Digest x"]:
    s, _, _ = get(BASE + "/jmap/session", headers={{"Authorization": bad}})
    check(s in (400, 401, 429), bad, s)
print("ok")
"##
        ),
    )
    .await;
}

/// Mailboxes: the RFC 8621 §2 methods, and the folders IMAP sees.
#[tokio::test]
async fn mailbox_methods_and_imap_agree() {
    let h = host(|_| {}).await;
    let out = run(
        &h,
        r##"
boxes = mailboxes()
check(set(boxes) >= {"inbox", "sent", "drafts", "junk", "trash", "archive"}, boxes.keys())
inbox = boxes["inbox"]
check(inbox["name"] == "Inbox" and inbox["parentId"] is None and inbox["myRights"]["mayDelete"] is False, inbox)
state = ok(jmap([["Mailbox/get", {"accountId": ACC, "ids": []}, "0"]]))["state"]
# create a parent and a child in one call, the child naming its parent by creation id
r = jmap([["Mailbox/set", {"accountId": ACC, "create": {
    "p": {"name": "Projects", "parentId": None},
    "c": {"name": "Estafeta", "parentId": "#p"}}}, "0"]])
created = ok(r)["created"]
pid, cid = created["p"]["id"], created["c"]["id"]
m = imap()
typ, lines = m.list()
names = b"\n".join(lines).decode()
check('"Projects/Estafeta"' in names or "Projects/Estafeta" in names, names)
got = ok(jmap([["Mailbox/get", {"accountId": ACC, "ids": [cid]}, "0"]]))["list"][0]
check(got["name"] == "Estafeta" and got["parentId"] == pid, got)
# changes: the two created
ch = ok(jmap([["Mailbox/changes", {"accountId": ACC, "sinceState": state}, "0"]]))
check(sorted(ch["created"]) == sorted([pid, cid]) and ch["destroyed"] == [], ch)
# rename over JMAP, seen over IMAP
ok(jmap([["Mailbox/set", {"accountId": ACC, "update": {cid: {"name": "Estafeta2"}}}, "0"]]))
typ, lines = m.list()
check("Projects/Estafeta2" in b"\n".join(lines).decode(), lines)
# a folder made over IMAP shows in Mailbox/changes
s2 = ok(jmap([["Mailbox/get", {"accountId": ACC, "ids": []}, "0"]]))["state"]
m.create("FromImap")
ch = ok(jmap([["Mailbox/changes", {"accountId": ACC, "sinceState": s2}, "0"]]))
check(len(ch["created"]) == 1, ch)
# query: by role, by parent, sorted by name
q = ok(jmap([["Mailbox/query", {"accountId": ACC, "filter": {"role": "inbox"}}, "0"]]))
check(q["ids"] == [inbox["id"]], q)
q = ok(jmap([["Mailbox/query", {"accountId": ACC, "filter": {"parentId": pid}}, "0"]]))
check(q["ids"] == [cid], q)
check(err(jmap([["Mailbox/query", {"accountId": ACC, "filter": {"colour": "red"}}, "0"]])) == "unsupportedFilter", "filter")
# refusals: a parent with a child, the inbox, a name with the separator, a bad parent
r = ok(jmap([["Mailbox/set", {"accountId": ACC, "destroy": [pid, inbox["id"], "m999999"],
    "create": {"x": {"name": "a/b"}, "y": {"name": "z", "parentId": "m999999"}, "e": {"name": ""}}}, "0"]]))
check(r["notDestroyed"][pid]["type"] == "mailboxHasChild", r)
check(r["notDestroyed"][inbox["id"]]["type"] == "forbidden", r)
check(r["notDestroyed"]["m999999"]["type"] == "notFound", r)
check(all(r["notCreated"][k]["type"] == "invalidProperties" for k in "xye"), r)
# a mailbox with mail is kept unless asked
smtp_deliver("bob@example.com", "to be moved")
eid = ok(jmap([["Email/query", {"accountId": ACC, "filter": {"inMailbox": inbox["id"]}}, "0"]]))["ids"][0]
ok(jmap([["Email/set", {"accountId": ACC, "update": {eid: {"mailboxIds": {cid: True}}}}, "0"]]))
r = ok(jmap([["Mailbox/set", {"accountId": ACC, "destroy": [cid]}, "0"]]))
check(r["notDestroyed"][cid]["type"] == "mailboxHasEmail", r)
r = ok(jmap([["Mailbox/set", {"accountId": ACC, "destroy": [cid], "onDestroyRemoveEmails": True}, "0"]]))
check(r["destroyed"] == [cid], r)
print("ok")
"##,
    )
    .await;
    assert_eq!(out.trim(), "ok");
}

/// Reading mail, following RFC 8621's examples: query with a back-reference into get,
/// body values, threads, keywords and moves — and the same changes made over IMAP seen
/// by Email/changes, and the reverse.
#[tokio::test]
async fn emails_follow_the_rfc_examples_and_agree_with_imap() {
    let h = host(|_| {}).await;
    run(
        &h,
        r##"
smtp_deliver("bob@example.com", "Lunch?", "Message-ID: <first@outside.test>\r\n", "Shall we have lunch on Friday?")
smtp_deliver("bob@example.com", "Re: Lunch?", "Message-ID: <second@outside.test>\r\nIn-Reply-To: <first@outside.test>\r\nReferences: <first@outside.test>\r\n", "Yes, at noon.")
smtp_deliver("bob@example.com", "Something else", "Content-Type: multipart/alternative; boundary=XX\r\nMIME-Version: 1.0\r\n",
    "--XX\r\nContent-Type: text/plain\r\n\r\nplain words\r\n--XX\r\nContent-Type: text/html\r\n\r\n<p>html <b>words</b></p>\r\n--XX--")
boxes = mailboxes()
inbox = boxes["inbox"]["id"]
check(boxes["inbox"]["totalEmails"] == 3 and boxes["inbox"]["unreadEmails"] == 3, boxes["inbox"])
# RFC 8621 §4.10: a query and a get of its results in one request
r = jmap([
    ["Email/query", {"accountId": ACC, "filter": {"inMailbox": inbox}, "sort": [{"property": "receivedAt", "isAscending": False}], "limit": 10, "calculateTotal": True}, "t0"],
    ["Email/get", {"accountId": ACC, "#ids": {"resultOf": "t0", "name": "Email/query", "path": "/ids"},
                   "properties": ["threadId", "subject", "from", "preview", "keywords", "mailboxIds", "receivedAt"]}, "t1"],
    ["Thread/get", {"accountId": ACC, "#ids": {"resultOf": "t1", "name": "Email/get", "path": "/list/*/threadId"}}, "t2"],
])
q, g, t = ok(r, 0), ok(r, 1), ok(r, 2)
check(q["total"] == 3 and len(q["ids"]) == 3, q)
emails = {e["subject"]: e for e in g["list"]}
check(set(emails) == {"Lunch?", "Re: Lunch?", "Something else"}, emails.keys())
check(emails["Lunch?"]["from"] == [{"name": "Carol", "email": "carol@outside.test"}], emails["Lunch?"])
check(emails["Lunch?"]["preview"] == "Shall we have lunch on Friday?", emails["Lunch?"]["preview"])
check(emails["Lunch?"]["threadId"] == emails["Re: Lunch?"]["threadId"] != emails["Something else"]["threadId"], emails)
threads = {x["id"]: x["emailIds"] for x in t["list"]}
lunch = threads[emails["Lunch?"]["threadId"]]
# oldest first: both arrived within the same second, so their order is by id
check(sorted(lunch) == sorted([emails["Lunch?"]["id"], emails["Re: Lunch?"]["id"]]) and len(threads) == 2, lunch)
# a message list (one mailbox, by date) is answered by the store page by page: the same
# answer as the general path gives (forced here by a condition that changes nothing)
for collapse in (False, True):
    for pos in (0, 1, 2, 5):
        base = {"accountId": ACC, "sort": [{"property": "receivedAt", "isAscending": False}], "collapseThreads": collapse, "position": pos, "limit": 2}
        fast = ok(jmap([["Email/query", dict(base, filter={"inMailbox": inbox}), "0"]]))
        slow = ok(jmap([["Email/query", dict(base, filter={"inMailbox": inbox, "minSize": 0}), "0"]]))
        check(fast["ids"] == slow["ids"] and fast["queryState"] == slow["queryState"], collapse, pos, fast, slow)
fast = ok(jmap([["Email/query", {"accountId": ACC, "filter": {"inMailbox": inbox}, "calculateTotal": True, "sort": [{"property": "receivedAt"}]}, "0"]]))
check(fast["total"] == 3 and len(fast["ids"]) == 3, fast)
# collapsed threads: two
q2 = ok(jmap([["Email/query", {"accountId": ACC, "collapseThreads": True, "calculateTotal": True}, "0"]]))
check(q2["total"] == 2, q2)
# body values and the body lists of a multipart/alternative
alt = emails["Something else"]["id"]
e = ok(jmap([["Email/get", {"accountId": ACC, "ids": [alt], "properties": ["textBody", "htmlBody", "bodyValues", "hasAttachment", "bodyStructure"],
    "fetchAllBodyValues": True}, "0"]]))["list"][0]
check(len(e["textBody"]) == 1 and e["textBody"][0]["type"] == "text/plain", e)
check(len(e["htmlBody"]) == 1 and e["htmlBody"][0]["type"] == "text/html", e)
check(e["bodyValues"][e["textBody"][0]["partId"]]["value"].strip() == "plain words", e["bodyValues"])
check("<b>words</b>" in e["bodyValues"][e["htmlBody"][0]["partId"]]["value"], e["bodyValues"])
check(e["hasAttachment"] is False and e["bodyStructure"]["type"] == "multipart/alternative" and len(e["bodyStructure"]["subParts"]) == 2, e)
# truncation
e = ok(jmap([["Email/get", {"accountId": ACC, "ids": [alt], "properties": ["bodyValues"], "fetchTextBodyValues": True, "maxBodyValueBytes": 5}, "0"]]))["list"][0]
v = list(e["bodyValues"].values())[0]
check(v["value"] == "plain" and v["isTruncated"] is True, v)
# header forms
e = ok(jmap([["Email/get", {"accountId": ACC, "ids": [emails["Re: Lunch?"]["id"]], "properties": ["header:Subject:asText", "header:From:asAddresses", "inReplyTo", "references", "messageId", "header:X-None"]}, "0"]]))["list"][0]
check(e["header:Subject:asText"] == "Re: Lunch?" and e["inReplyTo"] == ["first@outside.test"] and e["messageId"] == ["second@outside.test"] and e["header:X-None"] is None, e)
# search
q = ok(jmap([["Email/query", {"accountId": ACC, "filter": {"body": "noon"}}, "0"]]))
check(q["ids"] == [emails["Re: Lunch?"]["id"]], q)
q = ok(jmap([["Email/query", {"accountId": ACC, "filter": {"operator": "OR", "conditions": [{"subject": "else"}, {"from": "nobody"}]}}, "0"]]))
check(q["ids"] == [alt], q)
q = ok(jmap([["Email/query", {"accountId": ACC, "filter": {"operator": "NOT", "conditions": [{"text": "lunch"}]}}, "0"]]))
check(q["ids"] == [alt], q)
sn = ok(jmap([["SearchSnippet/get", {"accountId": ACC, "filter": {"text": "lunch"}, "emailIds": [emails["Lunch?"]["id"]]}, "0"]]))["list"][0]
check(sn["subject"] == "<mark>Lunch</mark>?" and "<mark>lunch</mark>" in sn["preview"], sn)

# JMAP changes seen over IMAP: $seen, then a move to Archive that keeps the id
state = ok(jmap([["Email/get", {"accountId": ACC, "ids": []}, "0"]]))["state"]
first = emails["Lunch?"]["id"]
archive = boxes["archive"]["id"]
r = ok(jmap([["Email/set", {"accountId": ACC, "ifInState": state, "update": {first: {"keywords/$seen": True, "mailboxIds": {archive: True}}}}, "0"]]))
check(first in r["updated"], r)
m = imap()
m.select("Archive")
typ, data = m.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
check(b"\\Seen" in data[0][0] and b"Lunch?" in data[0][1], data)
m.select("INBOX")
typ, data = m.search(None, "ALL")
check(len(data[0].split()) == 2, data)
ch = ok(jmap([["Email/changes", {"accountId": ACC, "sinceState": state}, "0"]]))
check(ch["updated"] == [first] and ch["created"] == [] and ch["destroyed"] == [], ch)
e = ok(jmap([["Email/get", {"accountId": ACC, "ids": [first], "properties": ["mailboxIds", "keywords"]}, "0"]]))["list"][0]
check(e["mailboxIds"] == {archive: True} and e["keywords"] == {"$seen": True}, e)
# a stale ifInState is refused
check(err(jmap([["Email/set", {"accountId": ACC, "ifInState": state, "update": {first: {"keywords": {}}}}, "0"]])) == "stateMismatch", "ifInState")

# IMAP changes seen by Email/changes: a flag, a copy, an expunge, an append
state = ch["newState"]
m.select("INBOX")
m.store("1", "+FLAGS", "\\Flagged")
ch = ok(jmap([["Email/changes", {"accountId": ACC, "sinceState": state}, "0"]]))
check(len(ch["updated"]) == 1 and not ch["created"] and not ch["destroyed"], ch)
flagged = ch["updated"][0]
e = ok(jmap([["Email/get", {"accountId": ACC, "ids": [flagged], "properties": ["keywords"]}, "0"]]))["list"][0]
check(e["keywords"] == {"$flagged": True}, e)
state = ch["newState"]
m.store("1", "+FLAGS", "\\Deleted")
m.expunge()
ch = ok(jmap([["Email/changes", {"accountId": ACC, "sinceState": state}, "0"]]))
check(ch["destroyed"] == [flagged] and not ch["created"] and not ch["updated"], ch)
state = ch["newState"]
m.append("INBOX", "(\\Seen)", None, b"From: bob@example.com\r\nSubject: appended\r\n\r\nby IMAP\r\n")
ch = ok(jmap([["Email/changes", {"accountId": ACC, "sinceState": state}, "0"]]))
check(len(ch["created"]) == 1 and not ch["updated"] and not ch["destroyed"], ch)
# destroyed over JMAP, gone over IMAP
state = ch["newState"]
ok(jmap([["Email/set", {"accountId": ACC, "destroy": [ch["created"][0]]}, "0"]]))
m.select("INBOX")
typ, data = m.search(None, "SUBJECT", "appended")
check(data[0] == b"", data)
ch = ok(jmap([["Email/changes", {"accountId": ACC, "sinceState": state}, "0"]]))
check(ch["destroyed"] == [ch["destroyed"][0]] and len(ch["destroyed"]) == 1, ch)
# a state that is not ours
check(err(jmap([["Email/changes", {"accountId": ACC, "sinceState": "nonsense"}, "0"]])) == "cannotCalculateChanges", "state")
# queryChanges: nothing since an unchanged state; a client queries again after a change
qs = ok(jmap([["Email/query", {"accountId": ACC}, "0"]]))["queryState"]
qc = ok(jmap([["Email/queryChanges", {"accountId": ACC, "sinceQueryState": qs}, "0"]]))
check(qc["added"] == [] and qc["removed"] == [] and qc["newQueryState"] == qs, qc)
m.store("1", "+FLAGS", "\\Seen")
check(err(jmap([["Email/queryChanges", {"accountId": ACC, "sinceQueryState": qs}, "0"]])) == "cannotCalculateChanges", "queryChanges")
check(err(jmap([["Mailbox/queryChanges", {"accountId": ACC, "sinceQueryState": qs}, "0"]])) == "cannotCalculateChanges", "Mailbox/queryChanges")
# Thread/changes: the thread of a changed Email is updated
ts = ok(jmap([["Thread/get", {"accountId": ACC, "ids": []}, "0"]]))["state"]
m.select("Archive")
m.store("1", "+FLAGS", "\\Flagged")
tc = ok(jmap([["Thread/changes", {"accountId": ACC, "sinceState": ts}, "0"]]))
check(tc["updated"] == [emails["Lunch?"]["threadId"]] and tc["created"] == [] and tc["destroyed"] == [], tc)
# Identity/changes: nothing since the current state
ist = ok(jmap([["Identity/get", {"accountId": ACC}, "0"]]))["state"]
ic = ok(jmap([["Identity/changes", {"accountId": ACC, "sinceState": ist}, "0"]]))
check(ic["created"] == [] and ic["newState"] == ist, ic)
print("ok")
"##,
    )
    .await;
}

/// Writing and sending: an upload, a draft with an attachment, its download served as
/// an attachment, EmailSubmission through port 587's path with the draft moved to Sent,
/// the message arriving without its Bcc, sending as someone else refused, import and
/// parse of an uploaded message, identities and the vacation reply.
#[tokio::test]
async fn drafts_uploads_and_submission() {
    let h = host(|_| {}).await;
    run(
        &h,
        r##"
boxes = mailboxes()
drafts, sent = boxes["drafts"]["id"], boxes["sent"]["id"]
s, _, b = post(BASE + "/jmap/upload/" + ACC + "/", b"%PDF-1.4 pretend", headers=dict(BOB, **{"Content-Type": "application/pdf"}))
check(s == 201, s, b)
up = json.loads(b)
check(up["type"] == "application/pdf" and up["size"] == 16, up)
# another account's upload URL
s, _, _ = post(BASE + "/jmap/upload/u999/", b"x", headers=BOB)
check(s == 404, s)
ids = ok(jmap([["Identity/get", {"accountId": ACC}, "0"]]))["list"]
check(ids[0]["email"] == "bob@example.com" and ids[0]["mayDelete"] is False, ids)
ident = ids[0]["id"]
r = jmap([
    ["Email/set", {"accountId": ACC, "create": {"d": {
        "mailboxIds": {drafts: True}, "keywords": {"$draft": True, "$seen": True},
        "from": [{"name": "Bob", "email": "bob@example.com"}],
        "to": [{"name": "Ann", "email": "ann@example.com"}],
        "bcc": [{"email": "ann@example.com"}],
        "subject": "Report",
        "textBody": [{"partId": "1", "type": "text/plain"}],
        "bodyValues": {"1": {"value": "Here it is.\nBob"}},
        "attachments": [{"blobId": up["blobId"], "type": "application/pdf", "name": "report.pdf"}]}}}, "0"],
    ["Email/get", {"accountId": ACC, "ids": ["#d"], "properties": ["subject", "attachments", "mailboxIds", "keywords"]}, "1"],
])
made = ok(r, 0)["created"]["d"]
got = ok(r, 1)["list"][0]
check(got["subject"] == "Report" and got["mailboxIds"] == {drafts: True} and got["keywords"] == {"$draft": True, "$seen": True}, got)
att = got["attachments"][0]
check(att["name"] == "report.pdf" and att["type"] == "application/pdf", att)
url = SESSION["downloadUrl"].replace("{accountId}", ACC).replace("{blobId}", att["blobId"]).replace("{name}", "report.pdf").replace("{type}", "text/html")
s, hd, b = get(url, headers=BOB)
check(s == 200 and b == b"%PDF-1.4 pretend", s, b)
check(hd["Content-Disposition"].startswith("attachment") and hd["X-Content-Type-Options"] == "nosniff" and "sandbox" in hd["Content-Security-Policy"], dict(hd))
for bad in ["../../etc/passwd", "rabc", "p" + "0" * 64 + "_99", "u" + "0" * 32]:
    s, _, _ = get(BASE + "/jmap/download/" + ACC + "/" + urllib.parse.quote(bad, safe="") + "/x", headers=BOB)
    check(s == 404, bad, s)
# send it, then move it from Drafts to Sent as RFC 8621 §7.5's example does
r = jmap([["EmailSubmission/set", {"accountId": ACC,
    "create": {"s": {"identityId": ident, "emailId": made["id"]}},
    "onSuccessUpdateEmail": {"#s": {"mailboxIds/" + drafts: None, "mailboxIds/" + sent: True, "keywords/$draft": None}}}, "0"]])
sub = ok(r, 0)["created"]["s"]
check(r[1][0] == "Email/set" and made["id"] in ok(r, 1)["updated"], r)
e = ok(jmap([["Email/get", {"accountId": ACC, "ids": [made["id"]], "properties": ["mailboxIds", "keywords"]}, "0"]]))["list"][0]
check(e["mailboxIds"] == {sent: True} and e["keywords"] == {"$seen": True}, e)
g = ok(jmap([["EmailSubmission/get", {"accountId": ACC, "ids": [sub["id"]]}, "0"]]))["list"][0]
check(g["emailId"] == made["id"] and [x["email"] for x in g["envelope"]["rcptTo"]] == ["ann@example.com"], g)
q = ok(jmap([["EmailSubmission/query", {"accountId": ACC, "filter": {"emailIds": [made["id"]]}}, "0"]]))
check(q["ids"] == [sub["id"]], q)
r = ok(jmap([["EmailSubmission/set", {"accountId": ACC, "update": {sub["id"]: {"undoStatus": "canceled"}}}, "0"]]))
check(r["notUpdated"][sub["id"]]["type"] == "cannotUnsend", r)
ANN = token("ann@example.com")
aacc = json.loads(get(BASE + "/jmap/session", headers=ANN)[2])["primaryAccounts"]["urn:ietf:params:jmap:mail"]
q = ok(jmap([["Email/query", {"accountId": aacc, "filter": {"subject": "report"}}, "0"],
             ["Email/get", {"accountId": aacc, "#ids": {"resultOf": "0", "name": "Email/query", "path": "/ids"}, "properties": ["subject", "bcc", "header:Received", "attachments"]}, "1"]], auth=ANN), 1)
check(len(q["list"]) == 1, q)
arrived = q["list"][0]
check(arrived["bcc"] is None and arrived["attachments"][0]["name"] == "report.pdf", arrived)
check(arrived["header:Received"] and "jmap" in arrived["header:Received"], arrived)
# someone else's From is refused, as on port 587
r = ok(jmap([["Email/set", {"accountId": ACC, "create": {"f": {"mailboxIds": {drafts: True}, "from": [{"email": "ceo@elsewhere.test"}], "to": [{"email": "ann@example.com"}], "subject": "x"}}}, "0"],
            ["EmailSubmission/set", {"accountId": ACC, "create": {"s": {"identityId": ident, "emailId": "#f"}}}, "1"]]), 1)
check(r["notCreated"]["s"]["type"] == "forbiddenFrom", r)
# an envelope sender that is not bob's is refused by the SMTP policy
r = ok(jmap([["EmailSubmission/set", {"accountId": ACC, "create": {"s": {"identityId": ident, "emailId": made["id"],
    "envelope": {"mailFrom": {"email": "ceo@elsewhere.test"}, "rcptTo": [{"email": "ann@example.com"}]}}}}, "0"]]))
check(r["notCreated"]["s"]["type"] == "forbiddenMailFrom", r)
# Email/import and Email/parse of an uploaded message
msg = b"From: Dan <dan@outside.test>\r\nTo: bob@example.com\r\nSubject: imported\r\nMessage-ID: <imp@outside.test>\r\n\r\nImported body.\r\n"
up2 = json.loads(post(BASE + "/jmap/upload/" + ACC + "/", msg, headers=dict(BOB, **{"Content-Type": "message/rfc822"}))[2])
r = jmap([["Email/parse", {"accountId": ACC, "blobIds": [up2["blobId"], "u" + "f" * 32]}, "0"],
          ["Email/import", {"accountId": ACC, "emails": {"i": {"blobId": up2["blobId"], "mailboxIds": {boxes["inbox"]["id"]: True}, "keywords": {"$seen": True}, "receivedAt": "2026-01-02T03:04:05Z"}}}, "1"]])
p = ok(r, 0)
check(p["parsed"][up2["blobId"]]["subject"] == "imported" and p["notFound"] == ["u" + "f" * 32], p)
imp = ok(r, 1)["created"]["i"]
e = ok(jmap([["Email/get", {"accountId": ACC, "ids": [imp["id"]], "properties": ["receivedAt", "keywords", "preview"]}, "0"]]))["list"][0]
check(e["receivedAt"] == "2026-01-02T03:04:05Z" and e["keywords"] == {"$seen": True} and e["preview"] == "Imported body.", e)
# identities: another address bob may not send as is refused; a name change is kept
r = ok(jmap([["Identity/set", {"accountId": ACC, "create": {"x": {"email": "ann@example.com"}}, "update": {ident: {"name": "Bob B."}}}, "0"]]))
check(r["notCreated"]["x"]["type"] == "forbiddenFrom" and ident in r["updated"], r)
check(ok(jmap([["Identity/get", {"accountId": ACC, "ids": [ident]}, "0"]]))["list"][0]["name"] == "Bob B.", "name")
# the vacation reply is the Sieve script the account page writes
v = ok(jmap([["VacationResponse/get", {"accountId": ACC}, "0"]]))["list"][0]
check(v["id"] == "singleton" and v["isEnabled"] is False, v)
r = ok(jmap([["VacationResponse/set", {"accountId": ACC, "update": {"singleton": {"isEnabled": True, "subject": "Away", "textBody": "Back Monday."}}}, "0"]]))
check("singleton" in r["updated"], r)
r = ok(jmap([["VacationResponse/set", {"accountId": ACC, "update": {"singleton": {"fromDate": "2026-12-24T00:00:00Z"}}}, "0"]]))
check(r["notUpdated"]["singleton"]["type"] == "invalidProperties", r)
smtp_deliver("bob@example.com", "while away")
print("ok")
"##,
    )
    .await;
    // the vacation script ran at delivery: carol was answered (queued to outside)
    let queued = h.store.queue_list().await.expect("queue");
    assert!(
        queued.iter().any(|q| q
            .recipients
            .iter()
            .any(|r| r.address == "carol@outside.test")),
        "vacation reply queued: {queued:?}"
    );
}

/// Push: an EventSource stream gets the current states, then a new Email state when
/// mail arrives over SMTP.
#[tokio::test]
async fn push_arrives_on_delivery() {
    let h = host(|_| {}).await;
    run(
        &h,
        r##"
import http.client, ssl
conn = http.client.HTTPSConnection(BASE.split("//")[1].split(":")[0], int(BASE.rsplit(":", 1)[1]), context=CTX, timeout=20)
conn.request("GET", "/jmap/eventsource?types=*&closeafter=no&ping=0", headers=BOB)
resp = conn.getresponse()
check(resp.status == 200 and resp.getheader("Content-Type") == "text/event-stream", resp.status)
def next_event():
    lines = []
    while True:
        line = resp.readline().decode()
        check(line != "", "stream ended")
        if line == "\n":
            return lines
        lines.append(line.rstrip("\n"))
first = next_event()
check(first[0] == "event: state", first)
before = json.loads(first[1][len("data: "):])["changed"][ACC]["Email"]
smtp_deliver("bob@example.com", "pushed")
second = next_event()
data = json.loads(second[1][len("data: "):])
check(data["@type"] == "StateChange", data)
after = data["changed"][ACC]["Email"]
check(after != before, before, after)
ch = ok(jmap([["Email/changes", {"accountId": ACC, "sinceState": before}, "0"]]))
check(len(ch["created"]) == 1 and ch["newState"] == after, ch, after)
print("ok")
"##,
    )
    .await;
}

/// Hostile and malformed requests get RFC 8620's errors, and bounds hold.
#[tokio::test]
async fn malformed_requests_get_the_rfc_errors() {
    let h = host(|_| {}).await;
    run(
        &h,
        r##"
def problem(s, b):
    return s, json.loads(b)["type"] if b.startswith(b"{") else b
s, b = raw(b"not json")[0], raw(b"not json")[2]
check(problem(s, b) == (400, "urn:ietf:params:jmap:error:notJSON"), s, b)
s, _, b = raw({"using": [], "methodCalls": "x"})
check(problem(s, b) == (400, "urn:ietf:params:jmap:error:notRequest"), s, b)
s, _, b = raw({"using": ["urn:example:nothing"], "methodCalls": []})
check(problem(s, b) == (400, "urn:ietf:params:jmap:error:unknownCapability"), s, b)
s, _, b = raw({"using": USING, "methodCalls": [["Core/echo", {}, str(i)] for i in range(33)]})
check(problem(s, b) == (400, "urn:ietf:params:jmap:error:limit") and json.loads(b)["limit"] == "maxCallsInRequest", s, b)
# 4 MiB and one octet promised: refused before it is sent
import http.client
host, port = BASE.split("//")[1].rsplit(":", 1)
c = http.client.HTTPSConnection(host, int(port), context=CTX, timeout=20)
c.putrequest("POST", "/jmap/api")
for k, v in BOB.items():
    c.putheader(k, v)
c.putheader("Content-Length", str(4 * 1024 * 1024 + 1))
c.endheaders()
r = c.getresponse()
b = r.read()
check(r.status == 413 and json.loads(b)["limit"] == "maxSizeRequest", r.status, b)
# exactly 4 MiB is read (and is not JSON)
s, _, b = raw(b" " * (4 * 1024 * 1024 - 1) + b"x")
check(problem(s, b) == (400, "urn:ietf:params:jmap:error:notJSON"), s, b)
# JSON nested past serde_json's 128 levels is not read
s, _, b = raw(b"[" * 100000 + b"]" * 100000)
check(problem(s, b) == (400, "urn:ietf:params:jmap:error:notJSON"), s, b)
# methods: unknown, without their capability, another account, bad arguments
check(err(jmap([["Email/explode", {}, "0"]])) == "unknownMethod", "unknown")
check(err(jmap([["Email/get", {"accountId": ACC, "ids": []}, "0"]], using=["urn:ietf:params:jmap:core"])) == "unknownMethod", "using")
check(err(jmap([["Email/get", {"accountId": "u999", "ids": []}, "0"]])) == "accountNotFound", "account")
check(err(jmap([["Email/get", {"accountId": ACC, "ids": "x"}, "0"]])) == "invalidArguments", "ids")
check(err(jmap([["Email/get", {"accountId": ACC, "ids": ["e" + "0" * 64] * 501}, "0"]])) == "requestTooLarge", "501 ids")
check(err(jmap([["Email/get", {"accountId": ACC, "ids": [], "properties": ["nonsense"]}, "0"]])) == "invalidArguments", "property")
check(err(jmap([["Email/query", {"accountId": ACC, "sort": [{"property": "colour"}]}, "0"]])) == "unsupportedSort", "sort")
deep = {"text": "x"}
for _ in range(11):
    deep = {"operator": "AND", "conditions": [deep]}
check(err(jmap([["Email/query", {"accountId": ACC, "filter": deep}, "0"]])) == "unsupportedFilter", "depth")
wide = {"operator": "OR", "conditions": [{"text": str(i)} for i in range(101)]}
check(err(jmap([["Email/query", {"accountId": ACC, "filter": wide}, "0"]])) == "unsupportedFilter", "width")
check(err(jmap([["Email/set", {"accountId": ACC, "destroy": ["e" + "0" * 64] * 501}, "0"]])) == "requestTooLarge", "501 changes")
check(err(jmap([["Email/get", {"accountId": ACC, "#ids": {"resultOf": "nope", "name": "Email/query", "path": "/ids"}}, "0"]])) == "invalidResultReference", "ref")
check(err(jmap([["Email/query", {"accountId": ACC, "anchor": "e" + "1" * 64}, "0"]])) == "anchorNotFound", "anchor")
# ids that name nothing of bob's are not found, whatever their shape
r = ok(jmap([["Email/get", {"accountId": ACC, "ids": ["e" + "0" * 64, "../x", "", "E" * 300], "properties": ["id"]}, "0"],
             ["Mailbox/get", {"accountId": ACC, "ids": ["m0", "m-1", "m99999999999999999999"]}, "1"]]))
check(len(r["notFound"]) == 4 and r["list"] == [], r)
check(err(jmap([["Email/get", {"accountId": ACC, "ids": [], "properties": ["id"] * 201}, "0"]])) == "invalidArguments", "201 properties")
check(err(jmap([["Email/get", {"accountId": ACC, "ids": [], "bodyProperties": ["type"] * 201}, "0"]])) == "invalidArguments", "201 bodyProperties")
# ann's mail is out of bob's reach, whatever ids he names
smtp_deliver("ann@example.com", "ann's own")
ANN = token("ann@example.com")
aacc = json.loads(get(BASE + "/jmap/session", headers=ANN)[2])["primaryAccounts"]["urn:ietf:params:jmap:mail"]
ann_inbox = ok(jmap([["Mailbox/query", {"accountId": aacc, "filter": {"role": "inbox"}}, "0"]], auth=ANN))["ids"][0]
ann_mail = ok(jmap([["Email/query", {"accountId": aacc}, "0"]], auth=ANN))["ids"][0]
ann_blob = ok(jmap([["Email/get", {"accountId": aacc, "ids": [ann_mail], "properties": ["blobId"]}, "0"]], auth=ANN))["list"][0]["blobId"]
check(err(jmap([["Email/get", {"accountId": aacc, "ids": [ann_mail]}, "0"]])) == "accountNotFound", "ann's account")
r = ok(jmap([["Email/get", {"accountId": ACC, "ids": [ann_mail], "properties": ["subject"]}, "0"]]))
check(r["notFound"] == [ann_mail], r)
r = ok(jmap([["Mailbox/get", {"accountId": ACC, "ids": [ann_inbox]}, "0"]]))
check(r["notFound"] == [ann_inbox], r)
q = ok(jmap([["Email/query", {"accountId": ACC, "filter": {"inMailbox": ann_inbox}}, "0"]]))
check(q["ids"] == [], q)
r = ok(jmap([["Email/set", {"accountId": ACC, "update": {ann_mail: {"keywords": {"$seen": True}}}, "destroy": [ann_mail]}, "0"]]))
check(r["notUpdated"][ann_mail]["type"] == "notFound" and r["notDestroyed"][ann_mail]["type"] == "notFound", r)
smtp_deliver("bob@example.com", "bob's own")
mine = ok(jmap([["Email/query", {"accountId": ACC}, "0"]]))["ids"][0]
r = ok(jmap([["Email/set", {"accountId": ACC, "update": {mine: {"mailboxIds": {ann_inbox: True}}}}, "0"]]))
check(r["notUpdated"][mine]["type"] == "invalidProperties", r)
r = ok(jmap([["Mailbox/set", {"accountId": ACC, "create": {"x": {"name": "in ann's", "parentId": ann_inbox}}, "update": {ann_inbox: {"name": "taken"}}, "destroy": [ann_inbox]}, "0"]]))
check(r["notCreated"]["x"]["type"] == "invalidProperties" and r["notUpdated"][ann_inbox]["type"] == "notFound" and r["notDestroyed"][ann_inbox]["type"] == "notFound", r)
s, _, _ = get(BASE + "/jmap/download/" + ACC + "/" + ann_blob + "/x", headers=BOB)
check(s == 404, "ann's blob", s)
s, _, _ = get(BASE + "/jmap/download/" + aacc + "/" + ann_blob + "/x", headers=BOB)
check(s == 404, "ann's account", s)
s, _, _ = get(BASE + "/mail/render/" + ann_mail, headers=BOB)
check(s == 404, "ann's message rendered", s)
r = ok(jmap([["Email/import", {"accountId": ACC, "emails": {"i": {"blobId": ann_blob, "mailboxIds": {ann_inbox: True}}}}, "0"]]))
check(r["notCreated"]["i"]["type"] == "blobNotFound", r)
# a call after a failed one still runs; echo echoes
r = jmap([["Email/explode", {}, "a"], ["Core/echo", {"hello": True}, "b"]])
check(r[1] == ["Core/echo", {"hello": True}, "b"], r)
print("ok")
"##,
    )
    .await;
}

/// jmapc, an independent JMAP client from PyPI, reads bob's mail and sends one.
#[tokio::test]
async fn an_independent_client_reads_and_sends() {
    let h = host(|_| {}).await;
    let https = h.listeners[1];
    h.deliver("bob@example.com", "for jmapc").await;
    let out = python(&format!(
        r##"
import requests, urllib3
urllib3.disable_warnings()
# the test server's certificate is self-signed
_request = requests.Session.request
def unverified(self, *a, **k):
    k["verify"] = False
    return _request(self, *a, **k)
requests.Session.request = unverified
from jmapc import Client, Ref, EmailQueryFilterCondition, EmailAddress, EmailBodyPart, EmailBodyValue, Email, EmailSubmission, Envelope
from jmapc.methods import EmailQuery, EmailGet, MailboxQuery, MailboxGet, IdentityGet, EmailSet, EmailSubmissionSet
from jmapc.models import MailboxQueryFilterCondition
client = Client.create_with_password(host="{https}", user="bob@example.com", password="secret")
results = client.request([
    MailboxQuery(filter=MailboxQueryFilterCondition(role="inbox")),
    EmailQuery(filter=EmailQueryFilterCondition(in_mailbox=Ref("/ids/0"))),
    EmailGet(ids=Ref("/ids"), properties=["subject", "from"]),
])
subjects = [e.subject for e in results[2].response.data]
assert subjects == ["for jmapc"], subjects
identity = client.request(IdentityGet()).data[0]
drafts = client.request(MailboxQuery(filter=MailboxQueryFilterCondition(role="drafts"))).ids[0]
made = client.request(EmailSet(create=dict(draft=Email(
    mail_from=[EmailAddress(name="Bob", email="bob@example.com")],
    to=[EmailAddress(email="ann@example.com")],
    subject="from jmapc",
    keywords={{"$draft": True}},
    mailbox_ids={{drafts: True}},
    body_values=dict(body=EmailBodyValue(value="sent by jmapc")),
    text_body=[EmailBodyPart(part_id="body", type="text/plain")],
))))
email_id = made.created["draft"].id
sent = client.request(EmailSubmissionSet(create=dict(s=EmailSubmission(identity_id=identity.id, email_id=email_id))))
assert sent.created["s"].id, sent
print("ok")
"##
    ))
    .await;
    assert_eq!(String::from_utf8_lossy(&out).trim(), "ok");
    let ann = h.inbox("ann@example.com").await;
    assert!(
        ann.iter()
            .any(|m| String::from_utf8_lossy(m).contains("sent by jmapc")),
        "ann got the jmapc message"
    );
}
