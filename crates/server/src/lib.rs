//! One way to start estafeta from its configuration, for `estafeta serve` and for every
//! test host: [`Server::bind`] sets up TLS and binds the listener table (what may need
//! root), [`Bound::start`] starts, over a store, the SMTP, IMAP and POP3 servers on those
//! listeners with one failed-login throttle for all three, the delivery scheduler and the
//! store's search indexer, the web server of the `http`/`https` listeners, and with
//! `tls.acme` the ACME client that keeps the certificate fresh;
//! [`RunningServer::stop`] stops them in order. Each server takes its settings from the
//! configuration's sections itself. On PostgreSQL, `cluster` shares the counts behind
//! the limits with the other nodes.

mod cluster;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use estafeta_config::{Config, Listener, Protocol};
use estafeta_delivery::{Delivery, DeliverySettings};
use estafeta_imap::ImapServer;
use estafeta_net::acme::AcmeSettings;
use estafeta_net::{AuthThrottle, Service, ThrottleSettings, TlsSetup, TlsSource};
use estafeta_pop3::Pop3Server;
use estafeta_smtp::SmtpServer;
use estafeta_store::Store;
use estafeta_trust::Checker;
use estafeta_web::WebServer;
use tokio::sync::watch;

/// How long open SMTP sessions get to finish a commit and say 421 when the server stops,
/// and delivery to record what it finished: together well within the binary's stop
/// deadline.
pub const SESSIONS_GRACE: Duration = Duration::from_secs(5);
pub const DELIVERY_GRACE: Duration = Duration::from_secs(3);

pub struct Server;

impl Server {
    /// Sets up TLS (the configured certificate, or a self-signed one kept under
    /// `data_dir`) and binds every listener of the table. Logs the keys given under an old
    /// name, the certificate in use and each listener. The error is one line to show.
    pub async fn bind(config: &Config) -> Result<Bound, String> {
        for renamed in &config.renamed {
            tracing::warn!(old = renamed.old, new = renamed.new, "{renamed}");
        }
        let tls = TlsSetup::load_or_generate(&config.tls, &config.hostname, &config.data_dir)
            .map_err(|e| e.to_string())?;
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
                "TLS uses a self-signed certificate: set tls.certificate and tls.private_key, or tls.acme, for one clients trust"
            ),
            TlsSource::Acme {
                certificate,
                stored: true,
            } => tracing::info!(
                certificate = %certificate.display(),
                "TLS certificate loaded (ACME); renewed automatically"
            ),
            TlsSource::Acme {
                certificate,
                stored: false,
            } => tracing::info!(
                certificate = %certificate.display(),
                directory = %config.tls.acme_directory,
                "ACME: no certificate yet; the self-signed one is used until one is obtained"
            ),
        }
        let listeners = estafeta_net::bind_all(&config.listeners)
            .await
            .map_err(|e| e.to_string())?;
        for b in &listeners {
            tracing::info!(
                protocol = b.spec.protocol.as_str(),
                tls = b.spec.tls.as_str(),
                address = %b.local_addr,
                "listening"
            );
        }
        Ok(Bound {
            config: config.clone(),
            tls,
            listeners,
            delivery: true,
            also_ours: Vec::new(),
        })
    }
}

/// TLS set up and the listeners bound, nothing served yet.
pub struct Bound {
    config: Config,
    tls: TlsSetup,
    listeners: Vec<estafeta_net::Bound>,
    delivery: bool,
    also_ours: Vec<SocketAddr>,
}

impl Bound {
    /// Starts no delivery scheduler: for a test host whose queue must stay as acceptance
    /// left it.
    pub fn without_delivery(mut self) -> Bound {
        self.delivery = false;
        self
    }

    /// Addresses that reach this server although no listener shows them (a NAT, a port
    /// forward): delivery treats mail for a host there as a loop, as for the SMTP
    /// listeners' own addresses.
    pub fn also_reachable_at(mut self, addresses: impl IntoIterator<Item = SocketAddr>) -> Bound {
        self.also_ours.extend(addresses);
        self
    }

    /// Serves the listeners over `store`: one SMTP server for the `smtp` and `submission`
    /// listeners, one IMAP and one POP3 server, sharing one failed-login throttle; and
    /// delivery. Fails when delivery's settings or its DNS resolver cannot be set up.
    pub async fn start(self, store: Arc<dyn Store>) -> Result<RunningServer, String> {
        let Bound {
            config,
            tls,
            listeners,
            ..
        } = self;
        let bound: Vec<(Listener, SocketAddr)> = listeners
            .iter()
            .map(|b| (b.spec.clone(), b.local_addr))
            .collect();
        let (stop, stopped) = watch::channel(false);
        let throttle = Arc::new(AuthThrottle::new(ThrottleSettings::from_config(&config)));
        // one resolver, one cache: delivery's lookups and the checks of mail from outside
        let dns_servers: Vec<SocketAddr> = (config.delivery.dns_servers.iter())
            .filter_map(|s| estafeta_config::parse_dns_server(s))
            .collect();
        let resolver = estafeta_trust::resolver(&dns_servers)?;
        let checker = config.trust.checks.then(|| {
            let timeout = Duration::from_secs(config.trust.timeout);
            Checker::new(resolver.clone(), &config.hostname, timeout)
                .with_dmarc_reports(config.trust.dmarc_reports)
        });
        let smtp = SmtpServer::new(
            &config,
            store.clone(),
            tls.clone(),
            throttle.clone(),
            stopped.clone(),
            checker,
            estafeta_web::public_url(&config, &bound),
        )?;
        let delivery = if self.delivery {
            // our own SMTP sockets: a host at one of them is this server (mail must not loop)
            let ours = bound
                .iter()
                .filter(|(spec, _)| spec.protocol == Protocol::Smtp)
                .map(|(_, address)| *address)
                .chain(self.also_ours)
                .collect();
            let settings = DeliverySettings::from_config(&config, ours)?;
            // DANE asks a resolver of its own: it validates DNSSEC, the shared one does not
            let dane = match config.trust.dane {
                true => Some(estafeta_trust::dane::Dane::new(
                    &dns_servers,
                    config.trust.dnssec_trust_anchor.as_deref(),
                )?),
                false => None,
            };
            Some(Delivery::start(store.clone(), settings, resolver, dane, stopped.clone()).await?)
        } else {
            None
        };
        // several nodes on one PostgreSQL: the counts behind the limits are shared
        if store.engine_name() == "postgres" {
            let node = format!(
                "{}/{}/{:08x}",
                config.hostname,
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos())
            );
            tokio::spawn(cluster::share_counts(
                store.clone(),
                node,
                throttle.clone(),
                smtp.clone(),
                stopped.clone(),
            ));
        }
        // bodies are indexed for SEARCH after they are stored; ends when the server stops
        tokio::spawn(estafeta_store::index_in_background(
            store.clone(),
            stopped.clone(),
        ));
        // delivery statistics counted in memory, written every few seconds
        tokio::spawn(estafeta_store::stats::flush_in_background(
            store.clone(),
            stopped.clone(),
        ));
        let imap = ImapServer::new(&config, store.clone(), tls.clone(), throttle.clone());
        let pop3 = Pop3Server::new(&config, store.clone(), tls.clone(), throttle.clone());
        let managesieve: Arc<dyn Service> = Arc::new(estafeta_managesieve::ManageSieveServer::new(
            &config,
            store.clone(),
            tls.clone(),
            throttle.clone(),
        ));
        let (imap, pop3): (Arc<dyn Service>, Arc<dyn Service>) = (Arc::new(imap), Arc::new(pop3));
        let smtp_service: Arc<dyn Service> = Arc::new(smtp.clone());
        let web: Arc<dyn Service> = Arc::new(WebServer::new(
            &config,
            &bound,
            store.clone(),
            throttle,
            vec![
                ("smtp", smtp_service.limits().clone()),
                ("imap", imap.limits().clone()),
                ("pop3", pop3.limits().clone()),
            ],
            tls.http01.clone(),
            Some(Arc::new(JmapSubmission(smtp.clone()))),
        ));
        let service_for = move |protocol| match protocol {
            Protocol::Smtp | Protocol::Submission => smtp_service.clone(),
            Protocol::Imap => imap.clone(),
            Protocol::Pop3 => pop3.clone(),
            Protocol::Managesieve => managesieve.clone(),
            Protocol::Http | Protocol::Https => web.clone(),
        };
        if let Some(settings) = AcmeSettings::from_config(&config) {
            let store = store.clone();
            let domains: estafeta_net::acme::Domains = Box::new(move || {
                let store = store.clone();
                Box::pin(async move {
                    let domains = store.list_domains().await.map_err(|e| e.to_string())?;
                    Ok(domains.into_iter().map(|d| d.name).collect())
                })
            });
            tokio::spawn(estafeta_net::acme::run(
                settings,
                tls.clone(),
                domains,
                stopped.clone(),
            ));
        }
        let accepting = tokio::spawn(estafeta_net::serve(listeners, service_for, tls, stopped));
        Ok(RunningServer {
            listeners: bound,
            store,
            stop,
            accepting,
            smtp,
            delivery,
        })
    }
}

/// The servers at work. Dropped, it stops accepting and tells sessions to end without
/// waiting; [`RunningServer::stop`] waits for them.
pub struct RunningServer {
    listeners: Vec<(Listener, SocketAddr)>,
    store: Arc<dyn Store>,
    stop: watch::Sender<bool>,
    accepting: tokio::task::JoinHandle<()>,
    smtp: SmtpServer,
    delivery: Option<Delivery>,
}

impl RunningServer {
    /// The listeners and their bound addresses, in the order of the configuration's table.
    pub fn listeners(&self) -> &[(Listener, SocketAddr)] {
        &self.listeners
    }

    /// The bound addresses, in the order of the configuration's table.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|(_, address)| *address).collect()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Stops: no new connections; SMTP sessions answer 421 and close (one in the middle
    /// of a commit finishes it first), for up to [`SESSIONS_GRACE`]; delivery finishes the
    /// transactions in progress and records them, for up to [`DELIVERY_GRACE`] (other
    /// leases are given back); then the store is closed.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.accepting).await;
        if tokio::time::timeout(SESSIONS_GRACE, self.smtp.wait_idle())
            .await
            .is_err()
        {
            let seconds = SESSIONS_GRACE.as_secs();
            tracing::warn!(seconds, "SMTP sessions still open: closing anyway");
        }
        if let Some(delivery) = self.delivery.take()
            && tokio::time::timeout(DELIVERY_GRACE, delivery.wait())
                .await
                .is_err()
        {
            tracing::warn!(
                seconds = DELIVERY_GRACE.as_secs(),
                "delivery still sending: its leases will expire and be taken up again"
            );
        }
        if let Err(e) = self.store.flush_stats().await {
            tracing::warn!(error = %e, "the last statistics were not written");
        }
        self.store.close().await;
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// JMAP's EmailSubmission handed to the SMTP server's submission path.
struct JmapSubmission(SmtpServer);

#[async_trait::async_trait]
impl estafeta_web::Submitter for JmapSubmission {
    async fn may_send_as(
        &self,
        user: &estafeta_store::User,
        address: &str,
    ) -> Result<bool, String> {
        self.0.may_send_as(user, address).await
    }

    async fn submit(
        &self,
        user: &estafeta_store::User,
        ip: std::net::IpAddr,
        sender: &str,
        recipients: &[String],
        message: Vec<u8>,
    ) -> Result<String, String> {
        let handover = estafeta_smtp::inbound::Handover {
            user,
            ip,
            via: "jmap",
            tls: None,
            sender,
            recipients,
            message,
        };
        self.0.submit(handover).await.map(|(id, _)| id)
    }
}
