//! ENVELOPE, BODY and BODYSTRUCTURE compared with Dovecot's answers for a corpus of
//! real-world shapes of message (attachments, nested multiparts, forwarded messages,
//! encoded words, RFC 2231 parameters, 8-bit and malformed headers, DSNs). Dovecot's
//! answers are recorded in tests/corpus/dovecot.json by tests/corpus/dovecot-golden.sh;
//! this test APPENDs the same files to estafeta over a real socket and compares the
//! parsed answers (a quoted string equals a literal with the same bytes; MIME type and
//! parameter names compare without case, as RFC 2045 says).

mod common;

use common::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structures_match_dovecot_on_the_corpus() {
    let h = Harness::start_with(|c| c.auth.allow_plaintext_on_loopback = true).await;
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
    let script = format!(
        r#"
import json, os, sys
sys.path.insert(0, {corpus:?})
import imapvalue
names = sorted(n for n in os.listdir({corpus:?}) if n.endswith(".eml"))
golden = json.load(open(os.path.join({corpus:?}, "dovecot.json")))
assert sorted(golden) == names, "dovecot.json is not up to date: run dovecot-golden.sh"
c = imapvalue.Conn("{ip}", {port})
c.run("l", "LOGIN bob@example.com secret")
for n in names:
    c.append("a", "INBOX", open(os.path.join({corpus:?}, n), "rb").read())
c.run("s", "SELECT INBOX")
ours = imapvalue.fetch_structures(c, len(names))
# the second time the answers come from the summaries cached by the first
assert imapvalue.fetch_structures(c, len(names)) == ours, "cached summaries differ"
bad = 0
for seq, name in enumerate(names, 1):
    want = imapvalue.normalized(golden[name])
    got = imapvalue.normalized(ours[seq])
    for item in ("ENVELOPE", "BODY", "BODYSTRUCTURE"):
        if want[item] != got[item]:
            bad += 1
            print(f"{{name}} {{item}}:\n  dovecot:  {{json.dumps(want[item], ensure_ascii=False)}}\n  estafeta: {{json.dumps(got[item], ensure_ascii=False)}}")
print(f"{{len(names)}} messages, {{bad}} differences")
"#,
        ip = h.imap.ip(),
        port = h.imap.port(),
    );
    let out = String::from_utf8_lossy(&estafeta_testkit::python(&script).await).into_owned();
    assert!(out.ends_with(" 0 differences\n"), "{out}");
}
