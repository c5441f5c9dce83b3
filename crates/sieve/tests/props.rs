//! Properties: `compile` never panics on arbitrary strings nor on mutated valid scripts;
//! `execute` never panics on arbitrary messages, and keeps its promises (an error means
//! exactly one keep).

mod common;

use common::*;
use estafeta_sieve::{Action, Limits, Message, compile, execute};
use proptest::prelude::*;

const SCRIPTS: &[&str] = &[
    r#"require ["fileinto", "variables", "imap4flags", "relational", "comparator-i;ascii-numeric", "body", "date", "index", "envelope", "copy", "mailbox", "duplicate", "vacation", "reject", "encoded-character", "include", "spamtest", "virustest"];
if header :matches "subject" "*[*]*" { set :lower "tag" "${2}"; fileinto :create "lists.${tag}"; }
if address :domain :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] "3" { addflag "many"; }
if body :text :contains "unsubscribe" { fileinto :copy :flags "${tag}" "news"; }
if date :value "ge" :originalzone :index 1 "date" "hour" "18" { setflag "late"; }
if envelope :localpart :is "from" "" { discard; stop; }
if duplicate :seconds 3600 { discard; }
if spamtest :value "ge" :comparator "i;ascii-numeric" "5" { reject "${hex:41 42} spam"; }
if virustest :value "eq" :comparator "i;ascii-numeric" "5" { discard; }
vacation :days 3 :subject "away: ${1}" "I am away";
include :optional :once "x";
keep :flags "\\Seen";"#,
    RFC_LIKE,
];

const RFC_LIKE: &str = "require [\"fileinto\"];\r\nif header :is \"Sender\" \"owner@x\" { fileinto \"filter\"; }\r\nelsif address :DOMAIN :is [\"From\", \"To\"] \"example.com\" { keep; }\r\nelsif anyof (NOT address :all :contains [\"To\", \"Cc\"] \"me@example.com\", header :matches \"subject\" [\"*make*money*fast*\"]) { fileinto \"spam\"; }\r\nelse { fileinto \"personal\"; }\r\n";

fn mutate(src: &str, edits: &[(usize, u8, u8)]) -> String {
    let mut bytes = src.as_bytes().to_vec();
    for &(at, kind, b) in edits {
        if bytes.is_empty() {
            break;
        }
        let at = at % bytes.len();
        match kind % 4 {
            0 => bytes[at] = b,
            1 => bytes.insert(at, b),
            2 => {
                bytes.remove(at);
            }
            _ => {
                let tail = bytes.split_off(at);
                let n = tail.len() / 2;
                bytes.extend_from_slice(&tail[n..]);
                bytes.extend_from_slice(&tail[..n]);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn check_run(script: &estafeta_sieve::Script, raw: &[u8]) {
    let users = vec![ME.to_string()];
    let m = Message {
        raw,
        envelope_from: "a@b.c",
        envelope_to: ME,
        user_addresses: &users,
        now: 1_700_000_000,
    };
    let limits = Limits {
        max_steps: 200_000,
        ..Limits::default()
    };
    let o = execute(&[script], &m, &mut TestEnv::default(), &limits);
    if o.error.is_some() {
        assert_eq!(o.actions, [Action::Keep { flags: vec![] }]);
        assert!(o.duplicates.is_empty());
    }
    for a in &o.actions {
        if let Action::Redirect { address } = a {
            assert!(address.len() <= 254 && !address.contains(['\r', '\n', ' ', '<', '>']));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn compile_never_panics_on_strings(s in ".{0,400}") {
        if let Err(e) = compile(&s, &Limits::default()) {
            let shown = e.to_string();
            prop_assert!(!shown.contains(['\r', '\n']));
        }
    }

    #[test]
    fn compile_never_panics_on_sieve_like_tokens(
        parts in proptest::collection::vec(prop::sample::select(vec![
            "if", "elsif", "else", "{", "}", "(", ")", "[", "]", ",", ";", "not", "anyof", "allof",
            "header", "address", ":is", ":matches", ":contains", ":comparator", "\"i;octet\"",
            "\"x\"", "\"${1}\"", "\"${hex:4\"", "text:\r\nx\r\n.\r\n", "1K", ":index", ":last",
            "require", "\"variables\"", "set", "keep", "fileinto", ":flags", "# c\r\n", "/* */",
            "true", "false", "size", ":over", "99999999999999999999999", "vacation", ":days",
        ]), 0..60)
    ) {
        let _ = compile(&parts.join(" "), &Limits::default());
    }

    #[test]
    fn compile_never_panics_on_mutated_scripts(
        which in 0..SCRIPTS.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)
    ) {
        let src = mutate(SCRIPTS[which], &edits);
        if let Ok(script) = compile(&src, &Limits::default()) {
            check_run(&script, MSG.as_bytes());
        }
    }

    #[test]
    fn execute_never_panics_on_messages(
        raw in proptest::collection::vec(any::<u8>(), 0..2000),
        header in "[A-Za-z-]{1,12}: [ -~]{0,80}",
    ) {
        for src in SCRIPTS {
            let script = compile(src, &Limits::default()).expect("valid");
            check_run(&script, &raw);
            let mut with_header = format!("{header}\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n").into_bytes();
            with_header.extend_from_slice(&raw);
            check_run(&script, &with_header);
        }
    }
}
