use super::*;

fn err(text: &str) -> String {
    match Config::from_toml(text, "test.toml") {
        Ok(_) => panic!("expected an error for {text:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn no_file_is_a_valid_configuration() {
    let c = Config::defaults().expect("defaults are valid");
    assert_eq!(c.data_dir, std::path::PathBuf::from("./estafeta-data"));
    assert_eq!(c.storage.engine, Engine::Sqlite);
    let ports: Vec<u16> = c.listeners.iter().map(|l| l.port).collect();
    assert_eq!(ports, vec![25, 587, 465, 2525, 143, 993, 110, 995]);
    assert_eq!(c.listeners[2].tls, TlsMode::Implicit);
    assert_eq!(c.listeners[2].protocol, Protocol::Submission);
    assert!(!c.hostname.is_empty());
}

#[test]
fn example_states_the_defaults() {
    let example = Config::from_toml(EXAMPLE, "example").expect("example parses");
    let defaults = Config::defaults().expect("defaults");
    assert_eq!(example, defaults);
}

#[test]
fn wrong_port_names_key_value_and_expectation() {
    let e = err("[[listener]]\nport = 70000\nprotocol = \"smtp\"\ntls = \"none\"\n");
    assert_eq!(
        e,
        "config error: listener[0].port = 70000: expected a port number from 0 to 65535"
    );
}

#[test]
fn wrong_enum_lists_choices() {
    let e = err("[storage]\nengine = \"mysql\"\n");
    assert!(
        e.starts_with("config error: storage.engine = \"mysql\": expected"),
        "{e}"
    );
    assert!(e.contains("\"sqlite\""), "{e}");
    assert!(e.contains("\"postgres\""), "{e}");
}

#[test]
fn unknown_key_is_reported() {
    let e = err("[tls]\ncertificat = \"/x\"\n");
    assert!(
        e.starts_with("config error: tls.certificat = \"/x\": unknown key; expected"),
        "{e}"
    );
}

#[test]
fn postgres_needs_url() {
    let e = err("[storage]\nengine = \"postgres\"\n");
    assert!(
        e.starts_with("config error: storage.url = (missing):"),
        "{e}"
    );
    let ok = Config::from_toml(
        "[storage]\nengine = \"postgres\"\nurl = \"postgres://a@127.0.0.1/b\"\n",
        "t",
    )
    .expect("valid");
    assert_eq!(ok.storage.engine, Engine::Postgres);
}

#[test]
fn bad_address_and_hostname() {
    let e = err(
        "[[listener]]\naddress = \"nowhere\"\nport = 25\nprotocol = \"smtp\"\ntls = \"none\"\n",
    );
    assert!(
        e.starts_with("config error: listener[0].address = \"nowhere\": expected an IP address"),
        "{e}"
    );
    let e = err("hostname = \"bad host\"\n");
    assert!(
        e.starts_with("config error: hostname = \"bad host\":"),
        "{e}"
    );
}

#[test]
fn duplicate_listener_is_refused() {
    let one = "[[listener]]\naddress = \"127.0.0.1\"\nport = 2525\nprotocol = \"submission\"\ntls = \"starttls\"\n";
    let e = err(&format!("{one}{one}"));
    assert!(
        e.starts_with("config error: listener[1].port = 2525:"),
        "{e}"
    );
}

#[test]
fn certificate_without_key_is_refused() {
    let e = err("[tls]\ncertificate = \"/etc/cert.pem\"\n");
    assert!(
        e.starts_with("config error: tls.private_key = (missing):"),
        "{e}"
    );
}

#[test]
fn missing_required_listener_key() {
    let e = err("[[listener]]\nport = 25\ntls = \"none\"\n");
    assert_eq!(
        e,
        "config error: listener[0].protocol = (missing): this key is required here"
    );
}

#[test]
fn syntax_error_has_line() {
    let e = err("hostname = \"a\"\n[storage\n");
    assert!(e.starts_with("config error: test.toml, line 2"), "{e}");
}

#[test]
fn custom_listener_table_replaces_defaults() {
    let c = Config::from_toml(
        "[[listener]]\naddress = \"127.0.0.1\"\nport = 0\nprotocol = \"imap\"\ntls = \"implicit\"\n",
        "t",
    )
    .expect("valid");
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].protocol, Protocol::Imap);
}

#[test]
fn smtp_defaults_and_bad_network() {
    let c = Config::defaults().unwrap();
    assert_eq!(c.smtp.max_message_size, 25 * 1024 * 1024);
    assert_eq!(c.smtp.max_recipients, 100);
    let e = err("[smtp]\ntrusted_networks = [\"10.0.0.0/33\"]\n");
    assert!(
        e.starts_with(
            "config error: smtp.trusted_networks[0] = \"10.0.0.0/33\": expected a network"
        ),
        "{e}"
    );
    let e = err("[smtp]\nmax_recipients = 0\n");
    assert_eq!(
        e,
        "config error: smtp.max_recipients = 0: expected at least 1"
    );
    assert_eq!(parse_network("192.168.1.0/24").map(|(_, p)| p), Some(24));
    assert_eq!(parse_network("::1").map(|(_, p)| p), Some(128));
}
