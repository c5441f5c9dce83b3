//! `estafeta serve`: set up TLS, bind every listener, give up root (see `privileges`),
//! open the store, start delivery,
//! serve until SIGINT or SIGTERM, then stop accepting, let delivery finish what it is
//! sending, and close the store cleanly — all within `stop::STOP_DEADLINE`, after which
//! the process exits anyway.

use std::sync::Arc;
use std::time::Duration;

use estafeta_config::Protocol;
use estafeta_delivery::{Delivery, DeliverySettings};
use estafeta_imap::{ImapServer, ImapSettings};
use estafeta_net::{Service, TlsSetup, TlsSource};
use estafeta_pop3::{Pop3Server, Pop3Settings};
use estafeta_smtp::SmtpServer;
use estafeta_smtp::inbound::SmtpSettings;
use tokio::sync::watch;

use crate::failure::{Failure, Outcome};
use crate::settings::Settings;
use crate::stop;

/// How long open SMTP sessions get to finish a commit and say 421, and delivery to record
/// what it finished: together well within `stop::STOP_DEADLINE`.
const SESSIONS_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
const DELIVERY_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

pub async fn run(settings: Settings) -> Outcome {
    let config = &settings.config;
    let identity = crate::privileges::plan(config)?;
    match &settings.origin {
        Some(p) => tracing::info!(file = %p.display(), "configuration loaded"),
        None => tracing::info!("no configuration file: built-in defaults in use"),
    }
    if config.listeners.is_empty() {
        return Err(Failure::new(
            "the configuration has no [[listener]]: nothing to serve",
        ));
    }
    let data_dir = settings.prepare_data_dir()?;
    crate::privileges::check_modes(data_dir, config);

    let tls = TlsSetup::load_or_generate(&config.tls, &config.hostname, data_dir)
        .map_err(Failure::new)?;
    match &tls.source {
        TlsSource::Configured { certificate } => {
            tracing::info!(certificate = %certificate.display(), "TLS certificate loaded")
        }
        TlsSource::SelfSigned {
            certificate,
            generated,
        } => tracing::warn!(
            certificate = %certificate.display(),
            generated,
            hostname = %config.hostname,
            "TLS uses a self-signed certificate: set tls.certificate and tls.private_key for one clients trust"
        ),
    }

    let bound = estafeta_net::bind_all(&config.listeners)
        .await
        .map_err(Failure::new)?;
    for b in &bound {
        tracing::info!(
            protocol = b.spec.protocol.as_str(),
            tls = b.spec.tls.as_str(),
            address = %b.local_addr,
            "listening"
        );
    }
    // ports bound and keys read: nothing more needs root
    crate::privileges::assume(&identity, data_dir)?;
    let store = settings.open_store().await?;
    tracing::info!(engine = store.engine_name(), data_dir = %data_dir.display(), "store open");

    // Watch signals before saying "ready", so that a stop request is never missed.
    let mut stop_request = stop::watch()?;
    let (stop, stopped) = watch::channel(false);
    let smtp_server = SmtpServer::new(
        store.clone(),
        tls.clone(),
        SmtpSettings {
            hostname: config.hostname.clone(),
            smtp: config.smtp.clone(),
            allow_plaintext_on_loopback: config.auth.allow_plaintext_on_loopback,
            spool_dir: Some(data_dir.join("spool")),
        },
        stopped.clone(),
    );
    let smtp: Arc<dyn Service> = Arc::new(smtp_server.clone());
    let imap: Arc<dyn Service> = Arc::new(ImapServer::new(
        store.clone(),
        tls.clone(),
        smtp_server.auth_throttle(),
        ImapSettings {
            allow_plaintext_on_loopback: config.auth.allow_plaintext_on_loopback,
            max_message_size: config.smtp.max_message_size,
            max_connections: config.imap.max_connections,
            max_connections_per_ip: config.imap.max_connections_per_ip,
            command_timeout: Duration::from_secs(config.imap.command_timeout),
            max_bad_commands: config.imap.max_bad_commands,
            unauthenticated_commands_per_minute: config.imap.unauthenticated_commands_per_minute,
            command_budget_exempt: config.smtp.trusted_networks.clone(),
            ..ImapSettings::default()
        },
    ));
    let pop3: Arc<dyn Service> = Arc::new(Pop3Server::new(
        store.clone(),
        tls.clone(),
        smtp_server.auth_throttle(),
        Pop3Settings {
            allow_plaintext_on_loopback: config.auth.allow_plaintext_on_loopback,
            max_connections: config.pop3.max_connections,
            max_connections_per_ip: config.pop3.max_connections_per_ip,
            command_timeout: Duration::from_secs(config.pop3.command_timeout),
            max_errors: config.pop3.max_errors,
            unauthenticated_commands_per_minute: config.pop3.unauthenticated_commands_per_minute,
            command_budget_exempt: config.smtp.trusted_networks.clone(),
            ..Pop3Settings::default()
        },
    ));
    // our own SMTP sockets: a host at one of them is this server (mail must not loop)
    let own: Vec<std::net::SocketAddr> = bound
        .iter()
        .filter(|b| b.spec.protocol == Protocol::Smtp)
        .map(|b| b.local_addr)
        .collect();
    let delivery_settings = DeliverySettings::from_config(config, own).map_err(Failure::new)?;
    let delivery = Delivery::start(store.clone(), delivery_settings, stopped.clone())
        .await
        .map_err(Failure::new)?;
    let server = tokio::spawn(estafeta_net::serve(
        bound,
        move |protocol: Protocol| -> Arc<dyn Service> {
            match protocol {
                Protocol::Smtp | Protocol::Submission => smtp.clone(),
                Protocol::Pop3 => pop3.clone(),
                Protocol::Imap => imap.clone(),
            }
        },
        tls,
        stopped,
    ));
    tracing::info!(hostname = %config.hostname, "estafeta ready");

    let which = match stop_request.wait_for(Option::is_some).await {
        Ok(which) => which.unwrap_or("SIGTERM"),
        Err(_) => "SIGTERM",
    };
    tracing::info!(signal = which, "stopping: no new connections");
    let _ = stop.send(true);
    let _ = server.await;
    // Sessions answer 421 and close; one in the middle of a commit finishes it first.
    if tokio::time::timeout(SESSIONS_GRACE, smtp_server.wait_idle())
        .await
        .is_err()
    {
        tracing::warn!(
            seconds = SESSIONS_GRACE.as_secs(),
            "SMTP sessions still open: closing anyway"
        );
    }
    // transactions in progress finish and are recorded; other leases are given back
    if tokio::time::timeout(DELIVERY_GRACE, delivery.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            seconds = DELIVERY_GRACE.as_secs(),
            "delivery still sending: its leases will expire and be taken up again"
        );
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
