//! MTA-STS for delivery (RFC 8461): whether a recipient domain publishes a policy (its
//! `_mta-sts` TXT record, read by mail-auth), the policy itself fetched over HTTPS
//! (`fetch`) and parsed (`policy`), and a cache of policies by domain. A policy is
//! fetched again only when the TXT record's `id` changes or the policy has expired; while
//! a domain's policy host fails, the cached policy goes on being used until it expires
//! (§5.1), and the failure is remembered for [`RETRY_FAILED`] so that each message does
//! not fetch again. The cache holds at most [`MAX_DOMAINS`] domains and lives in memory:
//! after a restart policies are fetched again.

mod fetch;
pub mod policy;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use tokio_rustls::TlsConnector;

pub use crate::https::MAX_HEAD;
pub use fetch::{FetchFailure, MAX_POLICY};
pub use policy::{Mode, Policy};

/// Domains whose policy (or failure) is remembered at most.
pub const MAX_DOMAINS: usize = 10_000;
/// How long a failed fetch is remembered before the next message tries again.
pub const RETRY_FAILED: Duration = Duration::from_secs(300);

/// What delivery gets for a domain.
#[derive(Debug, Clone)]
pub enum PolicyAnswer {
    /// No policy: the domain publishes none, or withdrew it (`mode: none`).
    None,
    /// The policy to apply (`enforce` or `testing`).
    Policy(Arc<Policy>),
    /// The domain announces a policy that could not be had, and none is cached: delivery
    /// goes on as without one, and the failure is reported (TLS-RPT).
    Failed(Failure),
}

/// A policy that could not be had, in TLS-RPT's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// `sts-policy-fetch-error`, `sts-policy-invalid` or `sts-webpki-invalid`.
    pub result_type: &'static str,
    pub detail: String,
}

struct Cached {
    /// The TXT record's `id` when the policy was fetched.
    id: String,
    answer: Result<Arc<Policy>, Failure>,
    /// A policy: when `max_age` runs out; a failure: when to try again.
    until: Instant,
}

/// The MTA-STS policies of recipient domains.
pub struct MtaSts {
    resolver: TokioResolver,
    connector: TlsConnector,
    port: u16,
    timeout: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

impl MtaSts {
    /// Policies fetched on `port` (443) with certificates checked by `connector`, each
    /// fetch within `timeout`.
    pub fn new(
        resolver: TokioResolver,
        connector: TlsConnector,
        port: u16,
        timeout: Duration,
    ) -> MtaSts {
        MtaSts {
            resolver,
            connector,
            port,
            timeout,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The policy that applies to mail for `domain` now.
    pub async fn policy(&self, domain: &str) -> PolicyAnswer {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let now = Instant::now();
        let id = match self.record_id(&domain).await {
            Ok(id) => id,
            Err(()) => {
                // no TXT record (or DNS trouble): a policy cached earlier still holds
                return match self.cached(&domain, None, now) {
                    Some(Ok(policy)) => live(policy),
                    _ => PolicyAnswer::None,
                };
            }
        };
        if let Some(answer) = self.cached(&domain, Some(&id), now) {
            return match answer {
                Ok(policy) => live(policy),
                Err(failure) => PolicyAnswer::Failed(failure),
            };
        }
        let fetched = fetch::policy_text(
            &self.resolver,
            &self.connector,
            &domain,
            self.port,
            self.timeout,
        )
        .await;
        let answer = match fetched {
            Ok(text) => Policy::parse(&text).map(Arc::new).map_err(|why| Failure {
                result_type: "sts-policy-invalid",
                detail: format!("the MTA-STS policy of {domain}: {why}"),
            }),
            Err(FetchFailure::Certificate(why)) => Err(Failure {
                result_type: "sts-webpki-invalid",
                detail: why,
            }),
            Err(FetchFailure::Fetch(why)) => Err(Failure {
                result_type: "sts-policy-fetch-error",
                detail: why,
            }),
        };
        match answer {
            Ok(policy) => {
                tracing::info!(
                    %domain,
                    mode = policy.mode.as_str(),
                    max_age = policy.max_age,
                    "MTA-STS policy fetched"
                );
                self.keep(
                    &domain,
                    &id,
                    Ok(policy.clone()),
                    now + Duration::from_secs(policy.max_age),
                );
                live(policy)
            }
            Err(failure) => {
                tracing::warn!(%domain, error = %failure.detail, "MTA-STS policy not available");
                // a policy cached earlier (under another id) holds until it expires
                if let Some(Ok(policy)) = self.cached(&domain, None, now) {
                    return live(policy);
                }
                self.keep(&domain, &id, Err(failure.clone()), now + RETRY_FAILED);
                PolicyAnswer::Failed(failure)
            }
        }
    }

    /// The `id` of the domain's one `v=STSv1` TXT record.
    async fn record_id(&self, domain: &str) -> Result<String, ()> {
        let name = format!("_mta-sts.{domain}.");
        crate::resolver::single_record::<mail_auth::mta_sts::MtaSts>(&self.resolver, &name)
            .await
            .map(|r| r.id)
            .ok_or(())
    }

    /// What the cache holds for `domain` that is still good: with `id`, only an answer
    /// fetched under that id; without, only a policy.
    fn cached(
        &self,
        domain: &str,
        id: Option<&str>,
        now: Instant,
    ) -> Option<Result<Arc<Policy>, Failure>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let entry = cache.get(domain)?;
        if entry.until <= now {
            return None;
        }
        match id {
            Some(id) if entry.id == id => Some(entry.answer.clone()),
            Some(_) => None,
            None => entry.answer.clone().ok().map(Ok),
        }
    }

    fn keep(&self, domain: &str, id: &str, answer: Result<Arc<Policy>, Failure>, until: Instant) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_DOMAINS && !cache.contains_key(domain) {
            let now = Instant::now();
            cache.retain(|_, c| c.until > now);
            if cache.len() >= MAX_DOMAINS {
                // still full of live policies: the one that expires first goes
                if let Some(first) = cache
                    .iter()
                    .min_by_key(|(_, c)| c.until)
                    .map(|(d, _)| d.clone())
                {
                    cache.remove(&first);
                }
            }
        }
        cache.insert(
            domain.to_string(),
            Cached {
                id: id.to_string(),
                answer,
                until,
            },
        );
    }
}

fn live(policy: Arc<Policy>) -> PolicyAnswer {
    if policy.mode == Mode::None {
        PolicyAnswer::None
    } else {
        PolicyAnswer::Policy(policy)
    }
}
