//! Helpers shared by the integration tests: a scripted Environment and a runner.
#![allow(dead_code)]

use std::collections::HashMap;

use estafeta_sieve::{Action, Environment, Limits, Location, Message, Outcome, compile, execute};

#[derive(Default)]
pub struct TestEnv {
    pub mailboxes: Vec<String>,
    pub seen: Vec<String>,
    pub asked: Vec<String>,
    pub scripts: HashMap<(Location, String), String>,
    pub spam: Option<u8>,
    pub virus: Option<u8>,
}

impl Environment for TestEnv {
    fn mailbox_exists(&mut self, name: &str) -> bool {
        self.mailboxes.iter().any(|m| m == name)
    }
    fn duplicate_seen(&mut self, key: &str) -> bool {
        self.asked.push(key.to_string());
        self.seen.iter().any(|k| k == key)
    }
    fn script_source(&mut self, location: Location, name: &str) -> Option<String> {
        self.scripts.get(&(location, name.to_string())).cloned()
    }
    fn spam_score(&mut self) -> Option<u8> {
        self.spam
    }
    fn virus_score(&mut self) -> Option<u8> {
        self.virus
    }
}

pub const ME: &str = "me@example.com";

/// A small message to run examples against.
pub const MSG: &str = "Date: Tue, 1 Apr 1997 09:06:31 -0800\r\n\
From: coyote@desert.example.org\r\n\
To: me@example.com\r\n\
Subject: I have a present for you\r\n\
Message-ID: <one@desert.example.org>\r\n\
\r\n\
Look, I'm sorry about the whole anvil thing, and I really\r\n\
didn't mean to try and drop it on you from the top of the\r\n\
cliff.\r\n";

pub fn compiles(src: &str) -> estafeta_sieve::Script {
    match compile(src, &Limits::default()) {
        Ok(s) => s,
        Err(e) => panic!("does not compile: {e}\n{src}"),
    }
}

pub fn run_with(src: &str, raw: &str, env: &mut TestEnv) -> Outcome {
    let script = compiles(src);
    let users = vec![ME.to_string()];
    let m = Message {
        raw: raw.as_bytes(),
        envelope_from: "coyote@desert.example.org",
        envelope_to: ME,
        user_addresses: &users,
        now: 1_234_567_890,
    };
    execute(&[&script], &m, env, &Limits::default())
}

pub fn run(src: &str, raw: &str) -> Outcome {
    run_with(src, raw, &mut TestEnv::default())
}

/// The actions of a run that must succeed.
pub fn actions(src: &str, raw: &str) -> Vec<Action> {
    let o = run(src, raw);
    assert_eq!(o.error, None, "{src}");
    o.actions
}

pub fn keep() -> Action {
    Action::Keep { flags: vec![] }
}

pub fn fileinto(m: &str) -> Action {
    Action::FileInto {
        mailbox: m.into(),
        flags: vec![],
        create: false,
    }
}

pub fn redirect(a: &str) -> Action {
    Action::Redirect { address: a.into() }
}
