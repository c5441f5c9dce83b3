//! `estafeta dns DOMAIN`: the DNS records a domain of ours needs, with this server's
//! values — MX, SPF, DKIM (from the store's keys), DMARC, MTA-STS, TLS-RPT and the SRV
//! records mail apps use to find the servers (RFC 6186, RFC 8314) — in zone-file form.

use estafeta_config::Config;
use estafeta_store::Store;

use crate::failure::{CommandResult, Failure};

/// The records of one domain that `estafeta dns` prints and `estafeta doctor` checks,
/// each as a zone-file line.
pub struct Expected {
    pub mx: String,
    pub spf: String,
    pub dmarc: String,
    pub tls_rpt: String,
    pub mta_sts_host: String,
    pub mta_sts: String,
}

impl Expected {
    /// `domain` lower case, without its final dot.
    pub fn new(domain: &str, config: &Config) -> Expected {
        let host = config.hostname.trim_end_matches('.');
        Expected {
            mx: format!("{domain}. IN MX 10 {host}."),
            spf: format!("{domain}. IN TXT \"v=spf1 mx -all\""),
            dmarc: format!(
                "_dmarc.{domain}. IN TXT \"v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}\""
            ),
            tls_rpt: format!(
                "_smtp._tls.{domain}. IN TXT \"v=TLSRPTv1; rua=mailto:postmaster@{domain}\""
            ),
            mta_sts_host: format!("mta-sts.{domain}. IN CNAME {host}."),
            mta_sts: format!(
                "_mta-sts.{domain}. IN TXT \"v=STSv1; id={}\"",
                estafeta_web::mta_sts::policy_id(config)
            ),
        }
    }
}

pub async fn run(domain: &str, config: &Config, store: &dyn Store) -> CommandResult {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if !store.is_local_domain(&domain).await? {
        return Err(Failure::new(format!(
            "{domain} is not one of our domains: add it with `estafeta domain add {domain}`"
        )));
    }
    let host = config.hostname.trim_end_matches('.');
    let keys = store.list_dkim_keys(Some(&domain)).await?;
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "; DNS records for {domain}, mail handled by {host}"
    ));
    if !host.contains('.') {
        line(format!(
            "; WARNING: hostname {host:?} is not a fully qualified name: set `hostname` in the configuration"
        ));
    }
    line(format!(
        "; {host} needs A/AAAA records of this machine, and their PTR records must name {host}"
    ));
    let expected = Expected::new(&domain, config);
    line(expected.mx.clone());
    line(
        "; SPF: our MX hosts send our mail; add the smarthost's include if mail leaves through one"
            .into(),
    );
    line(expected.spf.clone());
    if keys.is_empty() {
        line(format!(
            "; DKIM: no keys yet; make them with `estafeta dkim generate {domain}`"
        ));
    }
    for key in &keys {
        let state = if key.active {
            "signing"
        } else {
            "retired: keep while mail signed with it may be in flight"
        };
        line(format!(
            "; DKIM key {} ({}, {state})",
            key.selector, key.algorithm
        ));
        line(estafeta_trust::signing::zone_line(key));
    }
    line("; DMARC: start with p=none to watch the reports, then quarantine or reject".into());
    line(expected.dmarc.clone());
    line(expected.tls_rpt.clone());
    line(format!(
        "; MTA-STS (RFC 8461): senders fetch the policy from https://mta-sts.{domain}/.well-known/mta-sts.txt, \
         which an https listener serves (mode {}); mta-sts.{domain} must reach this server and \
         its certificate must name mta-sts.{domain}",
        config.web.mta_sts_mode.as_str()
    ));
    line(expected.mta_sts_host.clone());
    line(expected.mta_sts.clone());
    line(format!(
        "; client set-up: Thunderbird asks autoconfig.{domain}, Outlook autodiscover.{domain} \
         (served by an http/https listener)"
    ));
    line(format!("autoconfig.{domain}. IN CNAME {host}."));
    if config.tls.acme {
        line(format!(
            "; certificate (tls.acme): obtained from {} for {host}, autoconfig.{domain} and \
             mta-sts.{domain}; each must resolve to this server, or it is left out until the next renewal",
            config.tls.acme_directory
        ));
    }
    line(format!("autodiscover.{domain}. IN CNAME {host}."));
    line(tlsa_line(config, host));
    for (service, port) in estafeta_web::ClientSettings::from_config(config).srv_records() {
        line(format!(
            "_{service}._tcp.{domain}. IN SRV 0 1 {port} {host}."
        ));
    }
    print!("{out}");
    Ok(())
}

/// DANE for mail to us (RFC 7672): a TLSA record of our certificate's key (`3 1 1`, so
/// that a new certificate for the same key needs no new record), from the configured
/// certificate or the self-signed one `serve` made; useful only in a DNSSEC-signed zone.
fn tlsa_line(config: &Config, host: &str) -> String {
    let acme =
        estafeta_net::acme::directory(&config.data_dir).join(estafeta_net::acme::CERTIFICATE_FILE);
    let file = match &config.tls.certificate {
        Some(file) => file.clone(),
        // the ACME client keeps its key across renewals: the record stays true
        None if config.tls.acme && acme.exists() => acme,
        None => config.data_dir.join("tls/self-signed.crt"),
    };
    let Ok(pem) = std::fs::read(&file) else {
        return format!(
            "; DANE (RFC 7672): no certificate at {} yet; start the server once, then run this again",
            file.display()
        );
    };
    use rustls_pki_types::pem::PemObject;
    let data = rustls_pki_types::CertificateDer::from_pem_slice(&pem)
        .ok()
        .and_then(|cert| estafeta_trust::dane::association(&cert, true, 1));
    match data {
        Some(data) => {
            let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "; DANE (RFC 7672), only where {host}'s zone is DNSSEC-signed; a new key needs a new record first\n\
                 _25._tcp.{host}. IN TLSA 3 1 1 {hex}"
            )
        }
        None => format!(
            "; DANE: {} holds no certificate estafeta can read",
            file.display()
        ),
    }
}
