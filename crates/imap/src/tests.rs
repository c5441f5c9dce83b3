//! Commands as real clients send them (Thunderbird, Apple Mail, K-9, Outlook, mutt), the
//! errors a broken client gets, and the fuzz target.

use proptest::prelude::*;

use crate::*;

fn ok(text: &str) -> CommandBody {
    let bytes = format!("{text}\r\n");
    match parse_command(bytes.as_bytes()) {
        Ok(c) => c.body,
        Err(e) => panic!("{text:?}: {e:?}"),
    }
}

fn bad(text: &str) -> ParseError {
    parse_command(format!("{text}\r\n").as_bytes()).expect_err(text)
}

fn set(s: &str) -> SequenceSet {
    SequenceSet::parse(s).unwrap()
}

#[test]
fn session_commands() {
    assert_eq!(ok("a1 capability"), CommandBody::Capability);
    assert_eq!(parse_command(b"A001 NOOP\r\n").unwrap().tag, "A001");
    assert_eq!(
        ok("a2 LOGIN \"bob@example.com\" \"pass \\\"word\\\"\""),
        CommandBody::Login {
            user: "bob@example.com".into(),
            password: "pass \"word\"".into()
        }
    );
    assert_eq!(
        ok("a2 LOGIN bob@example.com {6}\r\nsecret"),
        CommandBody::Login {
            user: "bob@example.com".into(),
            password: "secret".into()
        }
    );
    assert_eq!(
        ok("a2 AUTHENTICATE PLAIN AGJvYgBwdw=="),
        CommandBody::Authenticate {
            mechanism: "PLAIN".into(),
            initial: Some("AGJvYgBwdw==".into())
        }
    );
    assert_eq!(
        ok("a ENABLE QRESYNC condstore"),
        CommandBody::Enable(vec!["QRESYNC".into(), "CONDSTORE".into()])
    );
    assert_eq!(
        ok("a ID (\"name\" \"Thunderbird\" \"version\" \"115.0\" \"os\" NIL)"),
        CommandBody::Id(vec![
            ("name".into(), Some("Thunderbird".into())),
            ("version".into(), Some("115.0".into())),
            ("os".into(), None)
        ])
    );
    assert_eq!(ok("a ID NIL"), CommandBody::Id(vec![]));
    for (text, body) in [
        ("a IDLE", CommandBody::Idle),
        ("a NAMESPACE", CommandBody::Namespace),
        ("a UNSELECT", CommandBody::Unselect),
        ("a LOGOUT", CommandBody::Logout),
        ("a STARTTLS", CommandBody::StartTls),
        (
            "a COMPRESS DEFLATE",
            CommandBody::Compress("DEFLATE".into()),
        ),
    ] {
        assert_eq!(ok(text), body);
    }
}

#[test]
fn mailbox_commands() {
    assert_eq!(
        ok("a SELECT inbox (CONDSTORE)"),
        CommandBody::Select {
            mailbox: "INBOX".into(),
            read_only: false,
            condstore: true,
            qresync: None
        }
    );
    assert_eq!(
        ok("a EXAMINE \"INBOX\" (QRESYNC (67890007 20050715194045000 41,43:211,214:541))"),
        CommandBody::Select {
            mailbox: "INBOX".into(),
            read_only: true,
            condstore: false,
            qresync: Some(Qresync {
                uidvalidity: 67890007,
                modseq: 20050715194045000,
                known_uids: Some(set("41,43:211,214:541"))
            })
        }
    );
    assert_eq!(
        ok("a LIST \"\" \"*\""),
        CommandBody::List {
            reference: "".into(),
            patterns: vec!["*".into()],
            selection: vec![],
            returns: vec![]
        }
    );
    assert_eq!(
        ok(
            "a LIST (SUBSCRIBED) \"\" (INBOX \"Sent Items\" %) RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))"
        ),
        CommandBody::List {
            reference: "".into(),
            patterns: vec!["INBOX".into(), "Sent Items".into(), "%".into()],
            selection: vec!["SUBSCRIBED".into()],
            returns: vec![
                ListReturn::Children,
                ListReturn::SpecialUse,
                ListReturn::Status(vec![StatusItem::Messages, StatusItem::Unseen])
            ]
        }
    );
    assert_eq!(
        ok("a LSUB \"\" *"),
        CommandBody::Lsub {
            reference: "".into(),
            pattern: "*".into()
        }
    );
    assert_eq!(
        ok("a STATUS Drafts (MESSAGES UIDNEXT UIDVALIDITY SIZE HIGHESTMODSEQ)"),
        CommandBody::Status {
            mailbox: "Drafts".into(),
            items: vec![
                StatusItem::Messages,
                StatusItem::UidNext,
                StatusItem::UidValidity,
                StatusItem::Size,
                StatusItem::HighestModSeq
            ]
        }
    );
    assert_eq!(
        ok("a CREATE \"Work/Projects\" (USE (\\Archive))"),
        CommandBody::Create {
            mailbox: "Work/Projects".into(),
            special_use: vec!["\\Archive".into()]
        }
    );
    assert_eq!(
        ok("a RENAME Work Job"),
        CommandBody::Rename {
            from: "Work".into(),
            to: "Job".into()
        }
    );
    assert_eq!(
        ok("a DELETE \"Old mail\""),
        CommandBody::Delete("Old mail".into())
    );
    assert_eq!(ok("a SUBSCRIBE Job"), CommandBody::Subscribe("Job".into()));
    assert_eq!(
        ok("a GETQUOTAROOT INBOX"),
        CommandBody::GetQuotaRoot("INBOX".into())
    );
    assert_eq!(ok("a GETQUOTA \"\""), CommandBody::GetQuota("".into()));
    assert_eq!(
        ok("a APPEND Sent (\\Seen) \"23-Nov-2026 14:08:21 +0000\" {5+}\r\nhello"),
        CommandBody::Append {
            mailbox: "Sent".into(),
            flags: vec!["\\Seen".into()],
            date: Some(1_795_442_901),
            message: b"hello".to_vec()
        }
    );
    assert_eq!(
        ok("a APPEND Drafts ~{3}\r\na\0b"),
        CommandBody::Append {
            mailbox: "Drafts".into(),
            flags: vec![],
            date: None,
            message: b"a\0b".to_vec()
        }
    );
}

#[test]
fn message_commands() {
    use FetchItem::*;
    assert_eq!(
        ok("a UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE) (CHANGEDSINCE 12345 VANISHED)"),
        CommandBody::Fetch {
            uid: true,
            set: set("1:*"),
            items: vec![Flags, Rfc822Size, Envelope, Uid, ModSeq],
            changed_since: Some(12345),
            vanished: true
        }
    );
    assert_eq!(
        ok(
            "a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From Subject DATE)] BODY[1.2.MIME] BODY[]<0.2048> BINARY.PEEK[1] BINARY.SIZE[1] BODY BODYSTRUCTURE)"
        ),
        CommandBody::Fetch {
            uid: false,
            set: set("1"),
            items: vec![
                BodySection {
                    peek: true,
                    section: Section {
                        parts: vec![],
                        text: Some(SectionText::HeaderFields {
                            not: false,
                            fields: vec!["From".into(), "Subject".into(), "DATE".into()]
                        })
                    },
                    partial: None
                },
                BodySection {
                    peek: false,
                    section: Section {
                        parts: vec![1, 2],
                        text: Some(SectionText::Mime)
                    },
                    partial: None
                },
                BodySection {
                    peek: false,
                    section: Section::default(),
                    partial: Some((0, 2048))
                },
                Binary {
                    peek: true,
                    parts: vec![1],
                    partial: None
                },
                BinarySize(vec![1]),
                Body,
                BodyStructure,
            ],
            changed_since: None,
            vanished: false
        }
    );
    assert_eq!(
        ok("a FETCH 2:4 fast"),
        CommandBody::Fetch {
            uid: false,
            set: set("2:4"),
            items: vec![Flags, InternalDate, Rfc822Size],
            changed_since: None,
            vanished: false
        }
    );
    assert_eq!(
        ok("a UID STORE 1:3 (UNCHANGEDSINCE 200) +FLAGS.SILENT (\\Seen $Forwarded)"),
        CommandBody::Store {
            uid: true,
            set: set("1:3"),
            unchanged_since: Some(200),
            action: StoreAction::Add,
            silent: true,
            flags: vec!["\\Seen".into(), "$Forwarded".into()]
        }
    );
    assert_eq!(
        ok("a STORE 1 -FLAGS \\Deleted"),
        CommandBody::Store {
            uid: false,
            set: set("1"),
            unchanged_since: None,
            action: StoreAction::Remove,
            silent: false,
            flags: vec!["\\Deleted".into()]
        }
    );
    assert_eq!(
        ok("a UID MOVE 4:7 Trash"),
        CommandBody::Move {
            uid: true,
            set: set("4:7"),
            mailbox: "Trash".into()
        }
    );
    assert_eq!(
        ok("a COPY 1,3 \"Sent Items\""),
        CommandBody::Copy {
            uid: false,
            set: set("1,3"),
            mailbox: "Sent Items".into()
        }
    );
    assert_eq!(ok("a UID EXPUNGE 3:5"), CommandBody::UidExpunge(set("3:5")));
    assert_eq!(ok("a EXPUNGE"), CommandBody::Expunge);
}

#[test]
fn search_commands() {
    use SearchKey::*;
    let day = crate::search::date("1-Feb-2026").unwrap();
    assert_eq!(
        ok(
            "a SEARCH RETURN (MIN MAX COUNT) CHARSET UTF-8 OR FROM alice SUBJECT \"hello world\" NOT SEEN SINCE 1-Feb-2026 LARGER 1000"
        ),
        CommandBody::Search {
            uid: false,
            returns: Some(vec!["MIN".into(), "MAX".into(), "COUNT".into()]),
            charset: Some("UTF-8".into()),
            key: And(vec![
                Or(
                    Box::new(From("alice".into())),
                    Box::new(Subject("hello world".into()))
                ),
                Not(Box::new(Flag("\\Seen".into()))),
                Since(day),
                Larger(1000),
            ])
        }
    );
    assert_eq!(
        ok(
            "a UID SEARCH 1:* UNDELETED (HEADER Message-ID \"<x@y>\" MODSEQ 55) UID 3:9 KEYWORD $Work"
        ),
        CommandBody::Search {
            uid: true,
            returns: None,
            charset: None,
            key: And(vec![
                SequenceSet(set("1:*")),
                NotFlag("\\Deleted".into()),
                And(vec![
                    Header("Message-ID".into(), "<x@y>".into()),
                    ModSeq(55)
                ]),
                Uid(set("3:9")),
                Flag("$Work".into()),
            ])
        }
    );
    assert_eq!(
        ok("a SEARCH TEXT {6}\r\nvoilà"),
        CommandBody::Search {
            uid: false,
            returns: None,
            charset: None,
            key: Text("voilà".into())
        }
    );
}

#[test]
fn broken_commands_get_a_bad_with_the_tag() {
    assert_eq!(bad("NOOP").tag, "*", "no tag");
    assert_eq!(bad("").tag, "*");
    let e = bad("a7 FROB");
    assert_eq!(e.tag, "a7");
    assert!(e.message.contains("unknown command FROB"), "{e:?}");
    for text in [
        "a FETCH x FLAGS",
        "a FETCH 1 (FLAGS",
        "a FETCH 0 FLAGS",
        "a FETCH 1 BODY.PEEK",
        "a FETCH 1 BODY[0]",
        "a FETCH 1 BODY[]<5.0>",
        "a SELECT",
        "a LOGIN \"unterminated",
        "a LOGIN bob {10}\r\nshort",
        "a NOOP trailing",
        "a STORE 1 FLAGZ \\Seen",
        "a SEARCH SINCE 31-Foo-2026",
        "a SEARCH",
        "a UID FROB 1",
        "a ENABLE",
        "a LIST \"\"",
    ] {
        assert_eq!(bad(text).tag, "a", "{text}");
    }
    let deep = format!("a SEARCH {}ALL", "NOT ".repeat(200));
    assert!(bad(&deep).message.contains("nested too deeply"));
}

/// How deep a search key's tree goes, walked without recursion.
fn key_depth(key: &SearchKey) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(key, 1)];
    while let Some((k, d)) = stack.pop() {
        deepest = deepest.max(d);
        match k {
            SearchKey::And(keys) => stack.extend(keys.iter().map(|k| (k, d + 1))),
            SearchKey::Or(a, b) => stack.extend([(&**a, d + 1), (&**b, d + 1)]),
            SearchKey::Not(k) => stack.push((&**k, d + 1)),
            _ => {}
        }
    }
    deepest
}

#[test]
fn nesting_is_bounded_in_every_command() {
    const N: usize = 100_000;
    let open = "(".repeat(N);
    let close = ")".repeat(N);
    // SEARCH: parentheses, NOT, OR and a mix of them, far deeper than any stack allows
    for text in [
        format!("a SEARCH {open}ALL{close}"),
        format!("a SEARCH {}ALL", "NOT ".repeat(N)),
        format!("a SEARCH {}{}ALL", "OR ".repeat(N), "ALL ".repeat(N)),
        format!("a UID SEARCH {}ALL", "(NOT OR ALL ".repeat(N)),
        format!("a SEARCH RETURN (MIN) CHARSET UTF-8 {open}SUBJECT {{1}}\r\nx{close}"),
    ] {
        let e = bad(&text);
        assert_eq!(e.tag, "a");
        assert!(
            e.message.contains("nested too deeply (at most 64 levels)"),
            "{}",
            e.message
        );
    }
    // every other command with a parenthesised argument takes one level only
    for text in [
        format!("a FETCH 1 {open}FLAGS{close}"),
        format!("a UID FETCH 1:* (FLAGS) {open}CHANGEDSINCE 1{close}"),
        format!("a APPEND INBOX {open}\\Seen{close} {{1}}\r\nx"),
        format!("a STORE 1 +FLAGS {open}\\Seen{close}"),
        format!("a STORE 1 {open}UNCHANGEDSINCE 1{close} FLAGS (x)"),
        format!("a STATUS INBOX {open}MESSAGES{close}"),
        format!("a LIST {open}SUBSCRIBED{close} \"\" *"),
        format!("a LIST \"\" {open}*{close}"),
        format!("a LIST \"\" * RETURN {open}CHILDREN{close}"),
        format!("a SELECT INBOX {open}CONDSTORE{close}"),
        format!("a SELECT INBOX (QRESYNC {open}1 1{close})"),
        format!("a CREATE x (USE {open}\\Sent{close})"),
        format!("a ID {open}\"a\" \"b\"{close}"),
        format!("a FETCH 1 BODY[HEADER.FIELDS {open}From{close}]"),
    ] {
        assert_eq!(bad(&text).tag, "a", "{}", &text[..40]);
    }
    // at the bound: accepted, and the tree is no deeper than the bound
    for text in [
        format!("a SEARCH {}ALL", "NOT ".repeat(64)),
        format!("a SEARCH {}ALL{}", "(".repeat(64), ")".repeat(64)),
        format!("a SEARCH {}{}ALL", "OR ".repeat(64), "ALL ".repeat(64)),
    ] {
        let CommandBody::Search { key, .. } = ok(&text) else {
            panic!("not a SEARCH");
        };
        assert!(key_depth(&key) <= 65, "{}", key_depth(&key));
    }
    assert!(
        bad(&format!("a SEARCH {}ALL", "NOT ".repeat(65)))
            .message
            .contains("nested too deeply")
    );
}

#[test]
fn lists_keys_and_strings_are_bounded() {
    // 1000 items pass, 1001 do not, in every kind of list
    let items = |n: usize, item: &str| vec![item; n].join(" ");
    for (make, item) in [
        (
            (|l: &str| format!("a FETCH 1 ({l})")) as fn(&str) -> String,
            "FLAGS",
        ),
        (|l| format!("a FETCH 1 BODY[HEADER.FIELDS ({l})]"), "From"),
        (|l| format!("a STORE 1 +FLAGS ({l})"), "$x"),
        (|l| format!("a STORE 1 +FLAGS {l}"), "$x"),
        (|l| format!("a APPEND INBOX ({l}) {{1}}\r\nx"), "$x"),
        (|l| format!("a STATUS INBOX ({l})"), "MESSAGES"),
        (|l| format!("a LIST \"\" ({l})"), "%"),
        (|l| format!("a ENABLE {l}"), "CONDSTORE"),
    ] {
        assert!(parse_command(format!("{}\r\n", make(&items(1000, item))).as_bytes()).is_ok());
        let e = bad(&make(&items(1001, item)));
        assert_eq!(e.message, "more than 1000 items in a list", "{item}");
    }
    let long = "X".repeat(999);
    assert!(
        bad(&format!("a FETCH 1 BODY[HEADER.FIELDS ({long})]"))
            .message
            .contains("header field name longer than 998 octets")
    );
    ok(&format!("a FETCH 1 BODY[HEADER.FIELDS ({})]", &long[..998]));
    // search keys: every key counts, nested or not
    ok(&format!("a SEARCH {}", items(1000, "ALL")));
    assert_eq!(
        bad(&format!("a SEARCH {}", items(1001, "ALL"))).message,
        "more than 1000 search keys"
    );
    assert_eq!(
        bad(&format!("a SEARCH ({}) ALL", items(1000, "SEEN"))).message,
        "more than 1000 search keys"
    );
    assert_eq!(
        bad(&format!("a SEARCH {}", items(600, "NOT ALL"))).message,
        "more than 1000 search keys"
    );
    // search strings
    let text = "y".repeat(4097);
    assert_eq!(
        bad(&format!("a SEARCH TEXT {{4097}}\r\n{text}")).message,
        "search string longer than 4096 octets"
    );
    ok(&format!("a SEARCH TEXT {{4096}}\r\n{}", &text[..4096]));
    assert!(
        bad(&format!("a SEARCH HEADER {} x", &text[..4097]))
            .message
            .contains("search string longer")
    );
}

#[test]
fn mailbox_names_that_are_not_utf8_are_refused() {
    for bytes in [
        &b"a CREATE \"\xff\xfe\"\r\n"[..],
        b"a RENAME INBOX {2}\r\n\xfe\xff\r\n",
        b"a SELECT \"caf\xe9\"\r\n",
        b"a LIST \"\xff\" *\r\n",
        b"a LIST \"\" \"\xff*\"\r\n",
        b"a APPEND \"\xc3\" {1}\r\nx\r\n",
        b"a UID MOVE 1 \"\x80\"\r\n",
    ] {
        let e = parse_command(bytes).expect_err("not UTF-8");
        assert_eq!(e.tag, "a");
        assert_eq!(e.message, "mailbox names are UTF-8; this one is not");
    }
    assert_eq!(
        parse_command("a CREATE \"café/été\"\r\n".as_bytes())
            .unwrap()
            .body,
        CommandBody::Create {
            mailbox: "café/été".into(),
            special_use: Vec::new()
        }
    );
    // other strings are repaired, not refused: a search for them finds nothing
    assert!(parse_command(b"a SEARCH SUBJECT \"\xff\"\r\n").is_ok());
    assert!(parse_command(b"a LOGIN \"\xff\" \"\xfe\"\r\n").is_ok());
}

proptest! {
    // The fuzz target: any bytes give a command or a BAD, never a panic or a hang.
    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_command(&bytes);
    }

    // Commands built from random words and literals still parse or fail cleanly.
    #[test]
    fn structured_noise(words in proptest::collection::vec("[A-Za-z0-9(){}\\[\\]<>.*%:,\\\\\" +~-]{0,12}", 0..8)) {
        let line = format!("t {}\r\n", words.join(" "));
        let _ = parse_command(line.as_bytes());
    }

    // Any password, sent as a literal, comes back intact.
    #[test]
    fn literal_round_trip(password in "[^\r\n]{0,64}") {
        let cmd = format!("t LOGIN bob {{{}}}\r\n{password}\r\n", password.len());
        let parsed = parse_command(cmd.as_bytes()).unwrap();
        prop_assert_eq!(parsed.body, CommandBody::Login { user: "bob".into(), password });
    }
}

/// CREATE's USE list is a flag list: at most MAX_LIST_ITEMS attributes, anything after
/// the list refused, and a list never closed refused, without recursion or a long wait.
#[test]
fn create_use_lists_are_bounded() {
    let many = vec!["\\Sent"; crate::parser::MAX_LIST_ITEMS].join(" ");
    match ok(&format!("a CREATE x (USE ({many}))")) {
        CommandBody::Create { special_use, .. } => {
            assert_eq!(special_use.len(), crate::parser::MAX_LIST_ITEMS)
        }
        other => panic!("{other:?}"),
    }
    let over = vec!["\\Sent"; crate::parser::MAX_LIST_ITEMS + 1].join(" ");
    bad(&format!("a CREATE x (USE ({over}))"));
    bad(&format!("a CREATE x (USE ({}", "(".repeat(100_000)));
    bad("a CREATE x (USE (\\Sent)) trailing");
    bad("a CREATE x (USE (\\Sent)");
}
