//! `estafeta serve`: open the store, set up TLS, bind every listener, start delivery,
//! serve until SIGINT or SIGTERM, then stop accepting, let delivery finish what it is
//! sending, and close the store cleanly.

use std::sync::Arc;
use std::time::Duration;

use estafeta_config::Protocol;
use estafeta_delivery::{Delivery, DeliverySettings};
use estafeta_imap::{ImapServer, ImapSettings};
use estafeta_net::{Service, TlsSetup, TlsSource};
use estafeta_pop3::{Pop3Server, Pop3Settings};
use estafeta_smtp::SmtpServer;
use estafeta_smtp::inbound::SmtpSettings;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::failure::{Failure, Outcome};
use crate::settings::Settings;

pub async fn run(settings: Settings) -> Outcome {
    let config = &settings.config;
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
    let store = settings.open_store().await?;
    tracing::info!(engine = store.engine_name(), data_dir = %data_dir.display(), "store open");

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

    // Watch signals before saying "ready", so that a stop request is never missed.
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Failure::new(format!("cannot watch SIGTERM: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| Failure::new(format!("cannot watch SIGINT: {e}")))?;
    let (stop, stopped) = watch::channel(false);
    let smtp_server = SmtpServer::new(
        store.clone(),
        tls.clone(),
        SmtpSettings {
            hostname: config.hostname.clone(),
            smtp: config.smtp.clone(),
            allow_plaintext_on_loopback: config.auth.allow_plaintext_on_loopback,
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

    let which = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(signal = which, "stopping: no new connections");
    let _ = stop.send(true);
    let _ = server.await;
    // Sessions answer 421 and close; one in the middle of a commit finishes it first.
    if tokio::time::timeout(Duration::from_secs(10), smtp_server.wait_idle())
        .await
        .is_err()
    {
        tracing::warn!("SMTP sessions still open after 10 s: closing anyway");
    }
    // transactions in progress finish and are recorded; other leases are given back
    delivery.wait().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
