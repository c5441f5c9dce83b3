fn go(s: String, run: bool) {
    std::thread::Builder::new().stack_size(256 * 1024).spawn(move || {
        let sc = estafeta_sieve::compile(&s, &Default::default()).unwrap();
        if run {
            let users = vec!["me@x".to_string()];
            let m = estafeta_sieve::Message { raw: b"Subject: y\r\n\r\n", envelope_from: "", envelope_to: "me@x", user_addresses: &users, now: 0 };
            struct E; impl estafeta_sieve::Environment for E { fn mailbox_exists(&mut self, _: &str) -> bool { false } fn duplicate_seen(&mut self, _: &str) -> bool { false } fn script_source(&mut self, _: estafeta_sieve::Location, _: &str) -> Option<String> { None } fn spam_score(&mut self) -> Option<u8> { None } fn virus_score(&mut self) -> Option<u8> { None } }
            estafeta_sieve::execute(&[&sc], &m, &mut E, &Default::default());
        }
    }).unwrap().join().unwrap();
}
fn blocks() -> String { format!("{}if header :contains \"subject\" \"x\" {{ discard; }}{}", "if true {".repeat(31), "}".repeat(31)) }
fn nots() -> String { format!("if {}true {{ discard; }}", "not ".repeat(31)) }
#[test] fn blocks_c() { go(blocks(), false) }
#[test] fn blocks_r() { go(blocks(), true) }
#[test] fn nots_c() { go(nots(), false) }
#[test] fn nots_r() { go(nots(), true) }
