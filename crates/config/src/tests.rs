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
    assert_eq!(ports, vec![25, 587, 465, 2525, 143, 993, 110, 995, 4190]);
    assert_eq!(c.listeners[2].tls, ListenerTls::Implicit);
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
    assert_eq!(
        (c.smtp.command_timeout, c.smtp.data_timeout),
        (300, 600),
        "Postfix's smtpd_timeout, RFC 5321's 10 minutes for the data"
    );
    assert_eq!(c.smtp.max_errors, 20, "Postfix's smtpd_hard_error_limit");
    assert_eq!(c.smtp.max_hops, 50, "Postfix's hopcount_limit");
    for key in ["command_timeout", "data_timeout", "max_errors", "max_hops"] {
        assert_eq!(
            err(&format!("[smtp]\n{key} = 0\n")),
            format!("config error: smtp.{key} = 0: expected at least 1")
        );
    }
    let c = Config::from_toml(
        "[smtp]\ncommand_timeout = 2\ndata_timeout = 3\nmax_hops = 7\n",
        "t",
    )
    .expect("valid");
    assert_eq!(
        (c.smtp.command_timeout, c.smtp.data_timeout, c.smtp.max_hops),
        (2, 3, 7)
    );
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

#[test]
fn delivery_defaults_and_relays() {
    let c = Config::defaults().expect("defaults");
    assert_eq!(
        c.delivery.retry_schedule,
        vec![300, 600, 1200, 2400, 3600, 7200, 14400]
    );
    assert_eq!(c.delivery.max_queue_time, 5 * 86_400);
    assert_eq!(c.delivery.max_connections_per_destination, 20);
    assert_eq!(c.delivery.mx_port, 25);
    assert!(c.delivery.smarthost.is_none());
    let c = Config::from_toml(
        "[delivery]\nmx_port = 2525\ndns_servers = [\"127.0.0.1:5353\", \"192.0.2.53\"]\n\
         [delivery.smarthost]\nhost = \"smtp.provider.test\"\ntls = \"implicit\"\n\
         username = \"me\"\npassword = \"pw\"\nauth_mechanism = \"login\"\n\
         [[delivery.route]]\ndomain = \"partner.test\"\nhost = \"10.1.2.3\"\n",
        "t",
    )
    .expect("valid");
    let smarthost = c.delivery.smarthost.as_ref().expect("smarthost");
    assert_eq!(smarthost.port_number(false), 465);
    assert_eq!(smarthost.auth_mechanism, Some(RelayAuth::Login));
    let route = &c.delivery.routes[0];
    assert_eq!(
        (route.tls_mode(true), route.port_number(true)),
        (RelayTls::Opportunistic, 25)
    );
    assert_eq!(
        parse_dns_server(&c.delivery.dns_servers[1]),
        Some("192.0.2.53:53".parse().unwrap())
    );
}

#[test]
fn delivery_errors_name_the_key() {
    assert_eq!(
        err("[delivery]\nconnection_cache_time = 301\n"),
        "config error: delivery.connection_cache_time = 301: at most 300 seconds (an idle connection holds one of delivery.max_connections); 0 closes connections at once"
    );
    assert_eq!(
        err("[delivery]\nretry_schedule = []\n"),
        "config error: delivery.retry_schedule = []: expected at least one delay in seconds, such as [300, 600, 1200]"
    );
    assert_eq!(
        err("[delivery]\ndns_servers = [\"resolver\"]\n"),
        "config error: delivery.dns_servers[0] = \"resolver\": expected an IP address, optionally with a port, such as \"192.0.2.53\" or \"127.0.0.1:5353\""
    );
    assert_eq!(
        err("[[delivery.route]]\nhost = \"10.0.0.1\"\n"),
        "config error: delivery.route[0].domain = (missing): a route needs the recipient domain it is for, such as \"example.org\""
    );
    assert_eq!(
        err("[delivery.smarthost]\nhost = \"relay.test\"\nusername = \"me\"\n"),
        "config error: delivery.smarthost.password = (missing): a username needs a password or a password_file"
    );
    let e = err("[delivery.smarthost]\nhost = \"relay.test\"\ntls = \"maybe\"\n");
    assert!(
        e.starts_with("config error: delivery.smarthost.tls = \"maybe\": expected"),
        "{e}"
    );
}

#[test]
fn imap_and_pop3_session_bounds() {
    let c = Config::defaults().expect("defaults");
    assert_eq!(c.imap.command_timeout, 60);
    assert_eq!(c.imap.max_bad_commands, 20);
    assert_eq!(c.pop3.command_timeout, 60);
    assert_eq!(c.pop3.max_errors, 20);
    let c = Config::from_toml(
        "[imap]\ncommand_timeout = 5\nmax_bad_commands = 3\n[pop3]\ncommand_timeout = 7\nmax_errors = 4\n",
        "t",
    )
    .expect("valid");
    assert_eq!((c.imap.command_timeout, c.imap.max_bad_commands), (5, 3));
    assert_eq!((c.pop3.command_timeout, c.pop3.max_errors), (7, 4));
    for (text, key) in [
        ("[imap]\ncommand_timeout = 0\n", "imap.command_timeout"),
        ("[imap]\nmax_bad_commands = 0\n", "imap.max_bad_commands"),
        ("[pop3]\ncommand_timeout = 0\n", "pop3.command_timeout"),
        ("[pop3]\nmax_errors = 0\n", "pop3.max_errors"),
    ] {
        assert_eq!(
            err(text),
            format!("config error: {key} = 0: expected at least 1")
        );
    }
}

#[test]
fn proxy_listener_needs_its_proxies() {
    let listener = "[[listener]]\nport = 25\nprotocol = \"smtp\"\ntls = \"starttls\"\n";
    let e = err(&format!("{listener}proxy_protocol = true\n"));
    assert!(
        e.starts_with("config error: listener[0].proxy_trusted = []: proxy_protocol = true needs the networks of the proxies"),
        "{e}"
    );
    let e = err(&format!("{listener}proxy_trusted = [\"127.0.0.1/32\"]\n"));
    assert_eq!(
        e,
        "config error: listener[0].proxy_trusted = [\"127.0.0.1/32\"]: only used with proxy_protocol = true on the same listener"
    );
    let e = err(&format!(
        "{listener}proxy_protocol = true\nproxy_trusted = [\"127.0.0.1/32\", \"10.0.0.0/33\"]\n"
    ));
    assert!(
        e.starts_with("config error: listener[0].proxy_trusted[1] = \"10.0.0.0/33\": expected a network in CIDR form"),
        "{e}"
    );
    let ok = Config::from_toml(
        &format!("{listener}proxy_protocol = true\nproxy_trusted = [\"127.0.0.1/32\", \"::1\"]\n"),
        "t",
    )
    .expect("valid");
    assert!(ok.listeners[0].proxy_protocol);
    assert_eq!(ok.listeners[0].proxy_trusted.len(), 2);
    assert!(!Config::defaults().expect("defaults").listeners[0].proxy_protocol);
}

#[test]
fn throttle_and_command_budget_keys() {
    let c = Config::defaults().expect("defaults");
    assert_eq!(c.auth.max_failures, 5);
    assert_eq!(c.auth.max_failures_per_address, 20);
    assert_eq!(c.auth.failure_delay_ms, 1000);
    assert_eq!(c.auth.block_time, 300);
    assert!(c.renamed.is_empty());
    assert_eq!(c.smtp.ipv6_prefix, 64);
    assert_eq!(c.smtp.unauthenticated_commands_per_minute, 3000);
    assert_eq!(c.imap.unauthenticated_commands_per_minute, 1000);
    assert_eq!(c.pop3.unauthenticated_commands_per_minute, 1000);
    let e = err("[auth]\nmax_failures = 30\n");
    assert_eq!(
        e,
        "config error: auth.max_failures_per_address = 20: expected at least auth.max_failures (30): the address's count holds the failures of all its user names"
    );
    let e = err("[auth]\nmax_failures = 0\n");
    assert!(
        e.starts_with("config error: auth.max_failures = 0: expected at least 1"),
        "{e}"
    );
    let e = err("[smtp]\nipv6_prefix = 16\n");
    assert!(
        e.starts_with(
            "config error: smtp.ipv6_prefix = 16: expected a prefix length from 32 to 128"
        ),
        "{e}"
    );
    let e = err("[smtp]\nipv6_prefix = 300\n");
    assert!(
        e.starts_with("config error: smtp.ipv6_prefix = 300:"),
        "{e}"
    );
    let ok = Config::from_toml(
        "[smtp]\nunauthenticated_commands_per_minute = 0\nipv6_prefix = 128\n[imap]\nunauthenticated_commands_per_minute = 0\n",
        "t",
    )
    .expect("0 turns the budget off");
    assert_eq!(ok.smtp.unauthenticated_commands_per_minute, 0);
}

/// The throttle's keys moved from `[smtp]` to `[auth]`: the old names still work, are
/// reported as renamed, and name themselves in errors; both names at once are refused.
#[test]
fn old_names_of_the_auth_keys() {
    let old = Config::from_toml(
        "[smtp]\nauth_max_failures = 3\nauth_max_failures_per_address = 9\n\
         auth_failure_delay_ms = 10\nauth_block_time = 60\n",
        "t",
    )
    .expect("the old names still work");
    let new = Config::from_toml(
        "[auth]\nmax_failures = 3\nmax_failures_per_address = 9\n\
         failure_delay_ms = 10\nblock_time = 60\n",
        "t",
    )
    .expect("the new names");
    assert_eq!(old.auth, new.auth);
    assert_eq!(old.smtp, new.smtp, "nothing is left under the old names");
    assert!(new.renamed.is_empty());
    let olds: Vec<&str> = old.renamed.iter().map(|r| r.old).collect();
    assert_eq!(
        olds,
        [
            "smtp.auth_max_failures",
            "smtp.auth_max_failures_per_address",
            "smtp.auth_failure_delay_ms",
            "smtp.auth_block_time"
        ]
    );
    assert_eq!(
        old.renamed[3].to_string(),
        "smtp.auth_block_time is the old name of auth.block_time: it still works, but rename it in the configuration file"
    );
    // a value under the old name is named so in errors
    let e = err("[smtp]\nauth_max_failures = 30\n");
    assert_eq!(
        e,
        "config error: auth.max_failures_per_address = 20: expected at least smtp.auth_max_failures (30): the address's count holds the failures of all its user names"
    );
    let e = err("[smtp]\nauth_max_failures = 0\n");
    assert!(
        e.starts_with("config error: smtp.auth_max_failures = 0:"),
        "{e}"
    );
    let e = err("[smtp]\nauth_block_time = 60\n[auth]\nblock_time = 30\n");
    assert_eq!(
        e,
        "config error: smtp.auth_block_time = 60: auth.block_time is set too; keep only auth.block_time (smtp.auth_block_time is its old name)"
    );
    let e = err("[smtp]\nauth_block_time = \"long\"\n");
    assert!(
        e.starts_with("config error: smtp.auth_block_time = "),
        "{e}"
    );
}

#[test]
fn web_public_url_is_an_origin() {
    let c = Config::from_toml(
        "[web]\npublic_url = \"https://mail.example.com:8443\"\n",
        "t",
    )
    .expect("valid");
    assert_eq!(
        c.web.public_url.as_deref(),
        Some("https://mail.example.com:8443")
    );
    for bad in [
        "mail.example.com",
        "ftp://x.test",
        "https://",
        "https://x.test/path",
        "https://x.test?q",
    ] {
        let e = err(&format!("[web]\npublic_url = \"{bad}\"\n"));
        assert!(
            e.contains("web.public_url") && e.contains("https://"),
            "{bad}: {e}"
        );
    }
}

const HTTPS_LISTENER: &str = "[[listener]]\nport = 443\nprotocol = \"https\"\ntls = \"implicit\"\n";

#[test]
fn acme_needs_a_contact() {
    let e = err(&format!(
        "hostname = \"mail.example.com\"\n[tls]\nacme = true\n{HTTPS_LISTENER}"
    ));
    assert!(
        e.starts_with("config error: tls.acme_contact = (missing): acme = true needs a contact"),
        "{e}"
    );
    let e = err(&format!(
        "hostname = \"mail.example.com\"\n[tls]\nacme = true\nacme_contact = \"postmaster@example.com\"\n{HTTPS_LISTENER}"
    ));
    assert!(e.contains("expected a mailto: URL"), "{e}");
}

#[test]
fn acme_and_configured_files_exclude_each_other() {
    let e = err(&format!(
        "hostname = \"mail.example.com\"\n[tls]\nacme = true\nacme_contact = \"mailto:a@example.com\"\ncertificate = \"/c.pem\"\nprivate_key = \"/k.pem\"\n{HTTPS_LISTENER}"
    ));
    assert!(
        e.starts_with(
            "config error: tls.certificate = \"/c.pem\": acme = true obtains the certificate itself"
        ),
        "{e}"
    );
}

#[test]
fn acme_challenge_needs_its_listener() {
    // the default listener table has neither http nor https
    let e = err(
        "hostname = \"mail.example.com\"\n[tls]\nacme = true\nacme_contact = \"mailto:a@example.com\"\n",
    );
    assert!(
        e.starts_with(
            "config error: tls.acme_challenge = \"tls-alpn-01\": the CA connects to port 443"
        ),
        "{e}"
    );
    assert!(e.contains("protocol = \"https\""), "{e}");
    let e = err(&format!(
        "hostname = \"mail.example.com\"\n[tls]\nacme = true\nacme_contact = \"mailto:a@example.com\"\nacme_challenge = \"http-01\"\n{HTTPS_LISTENER}"
    ));
    assert!(
        e.starts_with("config error: tls.acme_challenge = \"http-01\": the CA connects to port 80"),
        "{e}"
    );
    let e = err("hostname = \"mail.example.com\"\n[tls]\nacme_challenge = \"dns-01\"\n");
    assert!(e.contains("tls-alpn-01") && e.contains("http-01"), "{e}");
}

#[test]
fn acme_configuration_is_read() {
    let c = Config::from_toml(
        &format!(
            "hostname = \"mail.example.com\"\n[tls]\nacme = true\nacme_contact = \"mailto:a@example.com\"\nacme_names = [\"imap.example.com\"]\nacme_renew_days = 20\n{HTTPS_LISTENER}"
        ),
        "test.toml",
    )
    .expect("valid");
    assert!(c.tls.acme);
    assert_eq!(c.tls.acme_challenge, AcmeChallenge::TlsAlpn01);
    assert_eq!(
        c.tls.acme_directory,
        "https://acme-v02.api.letsencrypt.org/directory"
    );
    assert_eq!(c.tls.acme_names, vec!["imap.example.com".to_string()]);
    assert_eq!(c.tls.acme_renew_days, 20);
    let e = err(&format!(
        "hostname = \"mail.example.com\"\n[tls]\nacme = true\nacme_contact = \"mailto:a@example.com\"\nacme_names = [\"*.example.com\"]\n{HTTPS_LISTENER}"
    ));
    assert!(e.contains("tls.acme_names[0]"), "{e}");
    let e = err("[tls]\nacme_typo = true\n");
    assert!(e.contains("acme_typo"), "{e}");
    let e = err(&format!(
        "hostname = \"localhost\"\n[tls]\nacme = true\nacme_contact = \"mailto:a@example.com\"\n{HTTPS_LISTENER}"
    ));
    assert!(
        e.starts_with(
            "config error: hostname = \"localhost\": acme = true needs the server's public DNS name"
        ),
        "{e}"
    );
}

#[test]
fn doctor_section() {
    let c = Config::from_toml(
        "[doctor]\npublic_addresses = [\"192.0.2.1\", \"2001:db8::1\"]\nblocklists = []\n",
        "t",
    )
    .expect("valid");
    assert_eq!(c.doctor.public_addresses.len(), 2);
    assert!(c.doctor.blocklists.is_empty());
    assert_eq!(
        err("[doctor]\nblocklists = [\"not a zone\"]\n"),
        "config error: doctor.blocklists[0] = \"not a zone\": expected a DNS zone name such as \"zen.spamhaus.org\""
    );
    assert!(
        err("[doctor]\npublic_addresses = [\"mail.example.com\"]\n")
            .contains("doctor.public_addresses")
    );
    assert!(err("[doctor]\nblocklist = []\n").contains("blocklist"));
}
