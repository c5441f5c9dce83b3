//! Tests that fail when a feature breaks: match types, comparators, address parts,
//! relational, variables, flags, dates, body, vacation rules, duplicate, include, limits,
//! action conflicts, compile errors.

mod common;

use common::*;
use estafeta_sieve::{Action, Limits, Location, Message, compile, execute, execute_counting};

fn discards(src: &str, raw: &str) -> bool {
    match &actions(src, raw)[..] {
        [Action::Discard] => true,
        [Action::Keep { .. }] => false,
        other => panic!("{other:?}"),
    }
}

fn compile_error(src: &str) -> estafeta_sieve::CompileError {
    compile(src, &Limits::default()).expect_err(src)
}

#[test]
fn match_types_and_comparators() {
    let raw = "Subject: Hello World\r\n\r\n";
    assert!(discards(
        "if header :is \"subject\" \"hello world\" { discard; }",
        raw
    ));
    assert!(!discards(
        "if header :is \"subject\" \"hello\" { discard; }",
        raw
    ));
    assert!(discards(
        "if header :contains \"subject\" \"LO WO\" { discard; }",
        raw
    ));
    assert!(!discards(
        "if header :contains :comparator \"i;octet\" \"subject\" \"LO WO\" { discard; }",
        raw
    ));
    assert!(discards(
        "if header :is :comparator \"i;octet\" \"subject\" \"Hello World\" { discard; }",
        raw
    ));
    assert!(discards(
        "if header :matches \"subject\" \"h?llo*\" { discard; }",
        raw
    ));
    assert!(!discards(
        "if header :matches :comparator \"i;octet\" \"subject\" \"h?llo*\" { discard; }",
        raw
    ));
    assert!(!discards(
        "if header :matches \"subject\" \"*x*\" { discard; }",
        raw
    ));
    let num = "require \"comparator-i;ascii-numeric\";\r\nif header :is :comparator \"i;ascii-numeric\" \"x-n\" \"0042\" { discard; }";
    assert!(discards(num, "X-N: 42 apples\r\n\r\n"));
    assert!(!discards(num, "X-N: 43\r\n\r\n"));
}

#[test]
fn address_parts() {
    let raw = "From: \"W. Coyote\" <Wile.Coyote@Desert.Example.ORG>\r\n\r\n";
    assert!(discards(
        "if address :localpart :is \"from\" \"wile.coyote\" { discard; }",
        raw
    ));
    assert!(discards(
        "if address :domain :is \"from\" \"desert.example.org\" { discard; }",
        raw
    ));
    assert!(discards(
        "if address :all :is \"from\" \"wile.coyote@desert.example.org\" { discard; }",
        raw
    ));
    assert!(!discards(
        "if address :domain :is \"from\" \"wile.coyote\" { discard; }",
        raw
    ));
    // the display name is not part of the address
    assert!(!discards(
        "if address :contains \"from\" \"W.\" { discard; }",
        raw
    ));
    assert!(discards(
        "if header :contains \"from\" \"W.\" { discard; }",
        raw
    ));
}

#[test]
fn relational_count_and_value() {
    let r = "require [\"relational\", \"comparator-i;ascii-numeric\"];\r\n";
    let raw = "To: a@x, b@x\r\nCc: c@x\r\nX-Score: 12\r\n\r\n";
    let count = |op: &str, n: &str| {
        discards(
            &format!(
                "{r}if address :count \"{op}\" :comparator \"i;ascii-numeric\" [\"to\", \"cc\"] \"{n}\" {{ discard; }}"
            ),
            raw,
        )
    };
    assert!(count("eq", "3"));
    assert!(count("gt", "2"));
    assert!(!count("gt", "3"));
    assert!(count("le", "3"));
    assert!(count("ne", "4"));
    let value = |op: &str, n: &str| {
        discards(
            &format!(
                "{r}if header :value \"{op}\" :comparator \"i;ascii-numeric\" \"x-score\" \"{n}\" {{ discard; }}"
            ),
            raw,
        )
    };
    assert!(value("gt", "9"), "numeric, not lexicographic");
    assert!(value("ge", "12"));
    assert!(!value("lt", "12"));
    assert!(value("lt", "100"));
    // casemap order is lexicographic
    assert!(discards(
        &format!("{r}if header :value \"lt\" \"x-score\" \"9\" {{ discard; }}"),
        raw
    ));
    // :count on header fields
    assert!(discards(
        &format!(
            "{r}if header :count \"eq\" :comparator \"i;ascii-numeric\" \"to\" \"1\" {{ discard; }}"
        ),
        raw
    ));
}

#[test]
fn variables_match_variables_and_modifiers() {
    let s = r#"require ["variables", "fileinto"];
        if header :matches "subject" "*: *" {
            set :lower :upperfirst "tag" "${1}";
            set "rest" "${2}";
        }
        set :length "n" "${rest}";
        fileinto "${tag}-${n}-${unset}";"#;
    assert_eq!(
        actions(s, "Subject: URGENT: call me\r\n\r\n"),
        [fileinto("Urgent-7-")]
    );
    // variable names are case-insensitive; values are cut at max_variable_bytes
    let long = "x".repeat(5000);
    let s = format!(
        "require \"variables\";\r\nset \"V\" \"{long}\";\r\nset :length \"n\" \"${{v}}\";\r\nif string \"${{n}}\" \"4096\" {{ discard; }}"
    );
    assert!(discards(&s, MSG));
    // a multi-byte value is cut at a character boundary
    let s = format!(
        "require \"variables\";\r\nset \"v\" \"{}\";\r\nset :length \"n\" \"${{v}}\";\r\nif string \"${{n}}\" \"2048\" {{ discard; }}",
        "é".repeat(3000)
    );
    assert!(discards(&s, MSG));
    // without "variables", ${...} is text
    assert!(discards(
        "if header :contains \"subject\" \"${x}\" { discard; }",
        "Subject: a ${x} b\r\n\r\n"
    ));
}

#[test]
fn imap4flags() {
    let s = r#"require ["imap4flags", "variables"];
        setflag ["\\Seen", "a b"];
        addflag "c \\seen";
        removeflag "b";
        if hasflag :is "a" { addflag "had-a"; }
        if hasflag :contains "had" { addflag "contains"; }
        setflag "v" "x y";
        addflag "v" "z";
        removeflag "v" "x";
        if hasflag :is "v" ["y"] { addflag "v-ok"; }
        if not hasflag "v" "x" { addflag "no-x"; }"#;
    assert_eq!(
        actions(s, MSG),
        [Action::Keep {
            flags: ["\\Seen", "a", "c", "had-a", "contains", "v-ok", "no-x"]
                .map(String::from)
                .to_vec()
        }]
    );
    let s = "require [\"imap4flags\", \"fileinto\"];\r\naddflag \"\\\\Flagged\";\r\nfileinto \"A\";\r\nfileinto :flags \"x\" \"B\";\r\nkeep :flags \"\";";
    assert_eq!(
        actions(s, MSG),
        [
            Action::FileInto {
                mailbox: "A".into(),
                flags: vec!["\\Flagged".into()],
                create: false
            },
            Action::FileInto {
                mailbox: "B".into(),
                flags: vec!["x".into()],
                create: false
            },
            Action::Keep { flags: vec![] },
        ]
    );
}

#[test]
fn dates_with_zones() {
    let raw = "Date: Tue, 1 Apr 1997 23:30:00 -0800\r\n\r\n";
    let r = "require [\"date\", \"relational\"];\r\n";
    let t = |tail: &str| discards(&format!("{r}if {tail} {{ discard; }}"), raw);
    // local (UTC): next day
    assert!(t("date :is \"date\" \"date\" \"1997-04-02\""));
    assert!(t("date :is \"date\" \"time\" \"07:30:00\""));
    assert!(t("date :is :originalzone \"date\" \"date\" \"1997-04-01\""));
    assert!(t("date :is :originalzone \"date\" \"zone\" \"-0800\""));
    assert!(t(
        "date :is :zone \"+0530\" \"date\" \"iso8601\" \"1997-04-02T13:00:00+05:30\""
    ));
    assert!(t("date :is :zone \"-0800\" \"date\" \"weekday\" \"2\""));
    assert!(t("date :is \"date\" \"julian\" \"50540\""));
    assert!(!t("date :is \"x-missing\" \"year\" \"1997\""));
    assert!(t("currentdate :is :zone \"+0100\" \"date\" \"2009-02-14\""));
    assert!(t("currentdate :value \"gt\" \"year\" \"2008\""));
    assert!(
        compile(
            "require \"date\";\r\nif date :zone \"1234\" \"date\" \"year\" \"x\" {}",
            &Limits::default()
        )
        .is_err()
    );
    assert!(
        compile(
            "require \"date\";\r\nif date \"date\" \"century\" \"x\" {}",
            &Limits::default()
        )
        .is_err()
    );
}

#[test]
fn body_text_of_multipart_with_base64() {
    // "Hello Wörld, the secret word is swordfish" in base64, inside a multipart
    let raw = "Subject: x\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n\
preamble\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
SGVsbG8gV8O2cmxkLCB0aGUgc2VjcmV0IHdvcmQgaXMgc3dvcmRmaXNo\r\n--XX\r\n\
Content-Type: application/octet-stream\r\n\r\nnotext\r\n--XX--\r\n";
    let s =
        "require \"body\";\r\nif body :text :contains \"secret word is swordfish\" { discard; }";
    assert!(discards(s, raw));
    let s = "require \"body\";\r\nif body :contains \"wörld\" { discard; }";
    assert!(discards(s, raw));
    let s = "require \"body\";\r\nif body :text :contains \"notext\" { discard; }";
    assert!(!discards(s, raw), ":text leaves non-text parts out");
    let s = "require \"body\";\r\nif body :raw :contains \"SGVsbG8\" { discard; }";
    assert!(discards(s, raw));
    let s =
        "require \"body\";\r\nif body :content \"application\" :contains \"notext\" { discard; }";
    assert!(discards(s, raw));
    let s = "require \"body\";\r\nif body :content \"text/html\" :contains \"\" { discard; }";
    assert!(!discards(s, raw));
}

fn vacation_replies(raw: &str, from: &str) -> bool {
    let script = compiles("require \"vacation\";\r\nvacation \"away\";");
    let users = vec![ME.to_string(), "alias@example.com".to_string()];
    let m = Message {
        raw: raw.as_bytes(),
        envelope_from: from,
        envelope_to: ME,
        user_addresses: &users,
        now: 0,
    };
    let o = execute(&[&script], &m, &mut TestEnv::default(), &Limits::default());
    assert_eq!(o.error, None);
    o.actions.iter().any(|a| matches!(a, Action::Vacation(_)))
}

#[test]
fn vacation_no_reply_rules() {
    let ok = "From: a@b.org\r\nTo: Me <ME@Example.com>\r\nSubject: hi\r\n\r\n";
    assert!(vacation_replies(ok, "a@b.org"));
    assert!(vacation_replies(
        "To: x@y, alias@example.com\r\n\r\n",
        "a@b.org"
    ));
    assert!(vacation_replies("Cc: me@example.com\r\n\r\n", "a@b.org"));
    // null sender, daemons, lists
    assert!(!vacation_replies(ok, ""));
    assert!(!vacation_replies(ok, "MAILER-DAEMON@b.org"));
    assert!(!vacation_replies(ok, "owner-list@b.org"));
    assert!(!vacation_replies(ok, "list-request@b.org"));
    // list and automatic mail
    assert!(!vacation_replies(
        &format!("List-Id: <l.b.org>\r\n{ok}"),
        "a@b.org"
    ));
    assert!(!vacation_replies(
        &format!("Precedence: bulk\r\n{ok}"),
        "a@b.org"
    ));
    assert!(!vacation_replies(
        &format!("Auto-Submitted: auto-replied\r\n{ok}"),
        "a@b.org"
    ));
    assert!(vacation_replies(
        &format!("Auto-Submitted: no\r\n{ok}"),
        "a@b.org"
    ));
    // not addressed to me
    assert!(!vacation_replies(
        "To: other@example.com\r\n\r\n",
        "a@b.org"
    ));
    // :addresses counts as mine
    let script = compiles(
        "require \"vacation\";\r\nvacation :addresses \"team@example.com\" :handle \"h\" \"away\";",
    );
    let users = vec![ME.to_string()];
    let m = Message {
        raw: b"To: team@example.com\r\n\r\n",
        envelope_from: "a@b.org",
        envelope_to: ME,
        user_addresses: &users,
        now: 0,
    };
    let o = execute(&[&script], &m, &mut TestEnv::default(), &Limits::default());
    assert!(
        matches!(&o.actions[0], Action::Vacation(v) if v.handle == "h" && v.to == "a@b.org"),
        "{o:?}"
    );
}

#[test]
fn duplicate_seen_and_marks() {
    let s = "require \"duplicate\";\r\nif duplicate :handle \"h\" { discard; }";
    let o = run(s, MSG);
    assert_eq!(o.actions, [keep()]);
    assert_eq!(o.duplicates.len(), 1);
    assert_eq!(o.duplicates[0].seconds, 7 * 86400);
    let mut env = TestEnv {
        seen: vec![o.duplicates[0].key.clone()],
        ..Default::default()
    };
    let o = run_with(s, MSG, &mut env);
    assert_eq!(o.actions, [Action::Discard]);
    // :last refreshes the mark even when seen
    let s = "require \"duplicate\";\r\nif duplicate :handle \"h\" :last { discard; }";
    let o = run_with(s, MSG, &mut env);
    assert_eq!(o.duplicates.len(), 1);
    // no Message-ID: false, nothing recorded
    let o = run(s, "Subject: x\r\n\r\n");
    assert!(o.duplicates.is_empty());
    // an error loses the marks
    let s = "require \"duplicate\";\r\nif not duplicate { redirect \"bad address\"; }";
    let o = run(s, MSG);
    assert!(o.error.is_some() && o.duplicates.is_empty());
}

#[test]
fn includes() {
    let mut env = TestEnv::default();
    env.scripts.insert(
        (Location::Global, "spam".into()),
        "require \"fileinto\";\r\nif header :contains \"subject\" \"viagra\" { fileinto \"Junk\"; }".into(),
    );
    env.scripts.insert(
        (Location::Personal, "loop".into()),
        "require \"include\";\r\ninclude \"loop\";".into(),
    );
    env.scripts.insert(
        (Location::Personal, "a".into()),
        "require \"include\";\r\ninclude \"b\";".into(),
    );
    env.scripts.insert(
        (Location::Personal, "b".into()),
        "require \"include\";\r\ninclude \"a\";".into(),
    );
    env.scripts
        .insert((Location::Personal, "stopper".into()), "stop;".into());
    env.scripts.insert(
        (Location::Personal, "returner".into()),
        "require \"include\";\r\nreturn;\r\ndiscard;".into(),
    );
    env.scripts.insert(
        (Location::Personal, "broken".into()),
        "fileinto \"x\";".into(),
    );
    let o = run_with(
        "require \"include\";\r\ninclude :global \"spam\";",
        "Subject: cheap viagra\r\n\r\n",
        &mut env,
    );
    assert_eq!(o.actions, [fileinto("Junk")]);
    let o = run_with(
        "require \"include\";\r\ninclude \"missing\";\r\ndiscard;",
        MSG,
        &mut env,
    );
    assert!(o.error.as_deref().unwrap().contains("not found"));
    assert_eq!(o.actions, [keep()]);
    let o = run_with(
        "require \"include\";\r\ninclude :optional \"missing\";\r\ndiscard;",
        MSG,
        &mut env,
    );
    assert_eq!((o.error, o.actions), (None, vec![Action::Discard]));
    for looping in ["loop", "a"] {
        let o = run_with(
            &format!("require \"include\";\r\ninclude \"{looping}\";"),
            MSG,
            &mut env,
        );
        assert!(o.error.as_deref().unwrap().contains("loop"), "{o:?}");
        assert_eq!(o.actions, [keep()]);
    }
    let o = run_with(
        "require \"include\";\r\ninclude \"stopper\";\r\ndiscard;",
        MSG,
        &mut env,
    );
    assert_eq!(o.actions, [keep()], "stop in an include ends everything");
    let o = run_with(
        "require \"include\";\r\ninclude \"returner\";\r\ndiscard;",
        MSG,
        &mut env,
    );
    assert_eq!(
        o.actions,
        [Action::Discard],
        "return goes back to the includer"
    );
    let o = run_with("require \"include\";\r\ninclude \"broken\";", MSG, &mut env);
    assert!(o.error.as_deref().unwrap().contains("fileinto"), "{o:?}");
    // :once includes a script only once
    let once = "require \"include\";\r\ninclude :once \"spam\";\r\ninclude :once \"spam\";";
    let mut env2 = TestEnv::default();
    env2.scripts
        .insert((Location::Personal, "spam".into()), "keep;".into());
    assert_eq!(run_with(once, MSG, &mut env2).actions, [keep()]);
    // too many includes
    let many = format!(
        "require \"include\";\r\n{}",
        "include \"spam\";\r\n".repeat(9)
    );
    assert!(run_with(&many, MSG, &mut env2).error.is_some());
    // Script::includes lists them
    let s = compiles("require \"include\";\r\nif false { include :global :optional \"x\"; }");
    let inc = s.includes();
    assert_eq!(inc.len(), 1);
    assert_eq!(inc[0].location, Location::Global);
    assert!(inc[0].optional && !inc[0].once);
    assert_eq!(s.requires(), ["include"]);
}

#[test]
fn before_user_after_share_state() {
    let before = compiles("require \"imap4flags\";\r\naddflag \"from-before\";");
    let user = compiles("require \"fileinto\";\r\nfileinto \"A\";\r\nstop;");
    let after = compiles("discard;");
    let users = vec![ME.to_string()];
    let m = Message {
        raw: MSG.as_bytes(),
        envelope_from: "x@y.z",
        envelope_to: ME,
        user_addresses: &users,
        now: 0,
    };
    let o = execute(
        &[&before, &user, &after],
        &m,
        &mut TestEnv::default(),
        &Limits::default(),
    );
    assert_eq!(
        o.actions,
        [Action::FileInto {
            mailbox: "A".into(),
            flags: vec!["from-before".into()],
            create: false
        }]
    );
}

#[test]
fn limits() {
    // nesting
    let deep = format!("{}discard;{}", "if true {".repeat(33), "}".repeat(33));
    assert!(compile_error(&deep).message.contains("nesting"));
    let ok = format!("{}discard;{}", "if true {".repeat(31), "}".repeat(31));
    compiles(&ok);
    let deep_test = format!("if {}true {{ discard; }}", "not ".repeat(40));
    assert!(compile_error(&deep_test).message.contains("nesting"));
    let deep_any = format!("if {}true{} {{ }}", "anyof(".repeat(40), ")".repeat(40));
    assert!(compile_error(&deep_any).message.contains("nesting"));
    // script size
    let limits = Limits {
        max_script_bytes: 10,
        ..Limits::default()
    };
    assert!(compile("keep; keep; keep;", &limits).is_err());
    // 33 actions
    let mut s = String::from("require \"fileinto\";\r\n");
    for i in 0..33 {
        s.push_str(&format!("fileinto \"box{i}\";\r\n"));
    }
    let o = run(&s, MSG);
    assert!(o.error.as_deref().unwrap().contains("too many actions"));
    assert_eq!(o.actions, [keep()]);
    // 32 are fine
    let s32: String = s.lines().take(33).map(|l| format!("{l}\r\n")).collect();
    assert_eq!(run(&s32, MSG).actions.len(), 32);
    // redirects
    let mut s = String::new();
    for i in 0..5 {
        s.push_str(&format!("redirect \"r{i}@example.com\";\r\n"));
    }
    let o = run(&s, MSG);
    assert!(o.error.as_deref().unwrap().contains("redirect"));
    assert_eq!(o.actions, [keep()]);
    // the same address twice is one redirect
    assert_eq!(
        actions("redirect \"a@b.c\"; redirect \"A@B.C\";", MSG),
        [redirect("a@b.c")]
    );
    // a bad redirect address
    let o = run("redirect \"not an address\";", MSG);
    assert!(o.error.is_some());
    assert_eq!(o.actions, [keep()]);
}

#[test]
fn pathological_matches_is_bounded_by_steps() {
    let header = "a".repeat(64 * 1024);
    let raw = format!("Subject: {header}\r\n\r\n");
    let pattern = format!("{}b", "*a".repeat(20));
    let src = format!("if header :matches \"subject\" \"{pattern}\" {{ discard; }}");
    let script = compiles(&src);
    let users = vec![ME.to_string()];
    let m = Message {
        raw: raw.as_bytes(),
        envelope_from: "x@y.z",
        envelope_to: ME,
        user_addresses: &users,
        now: 0,
    };
    let limits = Limits::default();
    let (o, steps) = execute_counting(&[&script], &m, &mut TestEnv::default(), &limits);
    assert!(steps <= limits.max_steps, "{steps}");
    // either it finished within the budget (no match) or the budget stopped it
    match &o.error {
        None => assert_eq!(o.actions, [keep()]),
        Some(e) => assert!(e.contains("steps")),
    }
    // with a small budget, the run is stopped and the message kept
    let small = Limits {
        max_steps: 10_000,
        ..Limits::default()
    };
    let (o, steps) = execute_counting(&[&script], &m, &mut TestEnv::default(), &small);
    assert!(o.error.as_deref().unwrap().contains("steps"));
    assert_eq!(o.actions, [keep()]);
    assert!(steps <= 10_000);
    // a loop of many tests is stopped too
    let many = "if header :contains \"subject\" \"b\" { }\r\n".repeat(5000);
    let script = compiles(&many);
    let (o, _) = execute_counting(&[&script], &m, &mut TestEnv::default(), &limits);
    assert!(o.error.as_deref().unwrap().contains("steps"));
}

#[test]
fn reject_conflicts() {
    let r = "require [\"reject\", \"fileinto\", \"vacation\", \"copy\"];\r\n";
    for bad in [
        "keep; reject \"no\";",
        "reject \"no\"; keep;",
        "fileinto \"x\"; reject \"no\";",
        "redirect \"a@b.c\"; reject \"no\";",
        "reject \"no\"; vacation \"away\";",
        "reject \"no\"; reject \"again\";",
    ] {
        let o = run(&format!("{r}{bad}"), MSG);
        assert!(o.error.is_some(), "{bad}");
        assert_eq!(o.actions, [keep()], "{bad}");
    }
    let o = run(&format!("{r}redirect :copy \"a@b.c\"; reject \"no\";"), MSG);
    assert_eq!(o.error, None);
    assert_eq!(
        o.actions,
        [
            redirect("a@b.c"),
            Action::Reject {
                reason: "no".into(),
                ereject: false
            }
        ]
    );
    // discard cancels only the implicit keep
    assert_eq!(actions("discard; keep;", MSG), [Action::Discard, keep()]);
    // fileinto twice into one mailbox is one action
    assert_eq!(
        actions(
            "require \"fileinto\";\r\nfileinto \"a\"; fileinto \"a\";",
            MSG
        ),
        [fileinto("a")]
    );
}

#[test]
fn compile_errors() {
    let e = compile_error("keep;\r\n\r\n  fileinot \"x\";");
    assert_eq!((e.line, e.column), (3, 3));
    assert_eq!(
        e.to_string(),
        "line 3, column 3: unknown command \"fileinot\""
    );
    let e = compile_error("require [\"fileinto\", \"nonesuch\"];");
    assert!(e.message.contains("nonesuch"), "{e}");
    let e = compile_error("fileinto \"x\";");
    assert!(e.message.contains("fileinto"), "{e}");
    let e = compile_error("if body :contains \"x\" { }");
    assert!(e.message.contains("body"), "{e}");
    let e = compile_error("if header :value \"gt\" \"a\" \"b\" { }");
    assert!(e.message.contains("relational"), "{e}");
    let e = compile_error("require \"fileinto\";\r\nfileinto :copy \"x\";");
    assert!(e.message.contains("copy"), "{e}");
    let e = compile_error("keep :flags \"x\";");
    assert!(e.message.contains("imap4flags"), "{e}");
    let e = compile_error("keep;\r\nrequire \"fileinto\";");
    assert!(e.message.contains("require"), "{e}");
    let e = compile_error("if header :is :contains \"a\" \"b\" { }");
    assert_eq!(e.line, 1);
    compile_error("if header \"a\" { }");
    compile_error("keep");
    compile_error("if true { keep;");
    compile_error("\"unterminated");
    compile_error("/* unterminated");
    compile_error("require \"reject\";\r\nreject text:\r\nno end\r\n");
    compile_error("if header :comparator \"i;nonesuch\" \"a\" \"b\" { }");
    compile_error(
        "require \"comparator-i;ascii-numeric\";\r\nif header :contains :comparator \"i;ascii-numeric\" \"a\" \"1\" {}",
    );
    compile_error("require \"encoded-character\";\r\nkeep :x \"${unicode:D800}\";");
    compile_error("require \"encoded-character\";\r\nredirect \"${unicode:D800}\";");
    compile_error("elsif true { }");
    // the message is one printable line even for hostile input
    let e = compile_error("\u{1}\r\n");
    let shown = e.to_string();
    assert!(!shown.contains(['\r', '\n', '\u{1}']), "{shown:?}");
    let e = compile_error("frob\u{7}\r\n;");
    assert!(!e.to_string().contains('\u{7}'));
}

#[test]
fn lexical_details() {
    // numbers with quantifiers, saturating
    assert!(discards("if size :under 1G { discard; }", MSG));
    assert!(discards(
        "if size :under 99999999999999999999999999G { discard; }",
        MSG
    ));
    // escapes and dot-stuffing
    let s = "require \"variables\";\r\nset \"a\" text:\r\n..dot\r\n.\r\n;\r\nif string :is \"${a}\" \".dot\r\n\" { discard; }";
    assert!(discards(s, MSG));
    assert!(discards(
        "if header :is \"subject\" \"a\\\"b\\\\c\\d\" { discard; }",
        "Subject: a\"b\\cd\r\n\r\n"
    ));
    // a text: with a comment after it
    compiles("require \"reject\";\r\nreject text: # why\r\nno\r\n.\r\n;");
    // uppercase commands and tags
    assert!(discards("IF TRUE { DISCARD; }", MSG));
}

#[test]
fn deepest_script_runs_on_a_small_stack() {
    // the fuzz harness runs targets on 256 KiB stacks: the deepest scripts allowed by the
    // default max_nesting (32) must compile and run there, even in a debug build
    let blocks = format!(
        "{}if header :contains \"subject\" \"x\" {{ discard; }}{}",
        "if true {".repeat(31),
        "}".repeat(31)
    );
    let nots = format!("if {}true {{ discard; }}", "not ".repeat(31));
    let mixed = format!(
        "{}if {}true{} {{ keep; }}{}",
        "if true {".repeat(8),
        "allof(not ".repeat(11),
        ")".repeat(11),
        "}".repeat(8)
    );
    let too_deep = format!("if {}true {{ discard; }}", "not ".repeat(32));
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            for s in [blocks, nots, mixed] {
                let o = run(&s, MSG);
                assert_eq!(o.error, None);
            }
            assert!(compile(&too_deep, &Limits::default()).is_err());
        })
        .unwrap()
        .join()
        .unwrap();
}
