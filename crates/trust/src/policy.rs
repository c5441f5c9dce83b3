//! What a check's result does under the operator's `[trust]` policy: the reply that
//! refuses a recipient at RCPT (SPF), and the fate of the message at the end of DATA
//! (DMARC, and our own domains claimed in From:). The replies follow RFC 7372 and RFC 7489:
//! `550 5.7.23` for an SPF fail, `550 5.7.1` for a DMARC reject, `451 4.7.5` when a check
//! could not be completed where its failure would be refused.

use estafeta_config::{DmarcAction, SpfFail};
use mail_auth::dmarc::Policy;
use mail_auth::{DmarcResult, SpfResult};

use crate::checks::{MessageResults, SpfResults};

/// The fate of a message once its checks are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Into the recipients' INBOX.
    Deliver,
    /// Into the recipients' Junk folder (DMARC `p=quarantine`).
    Junk,
    /// Refused with this reply (5xx) or deferred with it (4xx).
    Refuse(String),
}

/// The reply refusing a recipient whose domain's `spf_fail` is `reject`, if SPF says so.
pub fn at_rcpt(spf: &SpfResults, spf_fail: SpfFail) -> Option<String> {
    if spf_fail != SpfFail::Reject {
        return None;
    }
    let domain = spf.mail_from.domain();
    match spf.mail_from.result() {
        SpfResult::Fail => Some(format!(
            "550 5.7.23 SPF validation failed: {domain} does not allow this host to send its mail"
        )),
        SpfResult::TempError => Some(format!(
            "451 4.7.5 SPF of {domain} could not be checked (DNS), try again later"
        )),
        _ => None,
    }
}

/// The fate of a message under `dmarc` (the strictest action among its recipients'
/// domains), `ours` telling whether a domain is one of ours.
pub fn at_data(
    results: &MessageResults,
    dmarc: DmarcAction,
    ours: impl Fn(&str) -> bool,
) -> Action {
    if dmarc == DmarcAction::Tag {
        return Action::Deliver;
    }
    // our domains are ours: from outside, they must authenticate, record or no record
    if let Some(own) = results.from_domains.iter().find(|d| ours(d))
        && !results.aligned_pass
    {
        return Action::Refuse(if results.temporary {
            format!(
                "451 4.7.5 the sender of {own} could not be authenticated (DNS), try again later"
            )
        } else {
            format!(
                "550 5.7.1 {own} is a domain of this server: its mail must be authenticated (DMARC)"
            )
        });
    }
    match (&results.dmarc, results.policy) {
        (DmarcResult::Fail(_), Policy::Reject) => Action::Refuse(format!(
            "550 5.7.1 rejected per the DMARC policy of {}",
            results.from_domain
        )),
        (DmarcResult::Fail(_), Policy::Quarantine) => Action::Junk,
        (DmarcResult::TempError(_), Policy::Reject) => Action::Refuse(format!(
            "451 4.7.5 the DMARC policy of {} could not be checked (DNS), try again later",
            results.from_domain
        )),
        _ => Action::Deliver,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::SpfOutput;

    fn results(dmarc: DmarcResult, policy: Policy, aligned_pass: bool) -> MessageResults {
        MessageResults {
            header: String::new(),
            dmarc,
            policy,
            from_domain: "sender.test".into(),
            from_domains: vec!["sender.test".into()],
            aligned_pass,
            temporary: false,
            report: None,
        }
    }

    #[test]
    fn dmarc_policies() {
        let fail = || DmarcResult::Fail(mail_auth::Error::NotAligned);
        let none = |_: &str| false;
        let enforce = DmarcAction::Enforce;
        assert!(matches!(
            at_data(&results(fail(), Policy::Reject, false), enforce, none),
            Action::Refuse(r) if r.starts_with("550 5.7.1 ")
        ));
        assert_eq!(
            at_data(&results(fail(), Policy::Quarantine, false), enforce, none),
            Action::Junk
        );
        assert_eq!(
            at_data(&results(fail(), Policy::None, false), enforce, none),
            Action::Deliver
        );
        assert_eq!(
            at_data(
                &results(fail(), Policy::Reject, false),
                DmarcAction::Tag,
                none
            ),
            Action::Deliver
        );
        let temp = DmarcResult::TempError(mail_auth::Error::NotAligned);
        assert!(matches!(
            at_data(&results(temp, Policy::Reject, false), enforce, none),
            Action::Refuse(r) if r.starts_with("451 4.7.5 ")
        ));
        // our own domain with no record: refused unless aligned
        let ours = |d: &str| d == "sender.test";
        assert!(matches!(
            at_data(&results(DmarcResult::None, Policy::None, false), enforce, ours),
            Action::Refuse(r) if r.starts_with("550 5.7.1 sender.test is a domain of this server")
        ));
        assert_eq!(
            at_data(
                &results(DmarcResult::None, Policy::None, true),
                enforce,
                ours
            ),
            Action::Deliver
        );
    }

    #[test]
    fn spf_at_rcpt() {
        let spf = |r| SpfResults {
            helo: None,
            mail_from: SpfOutput::new("sender.test".into()).with_result(r),
        };
        let refused = at_rcpt(&spf(SpfResult::Fail), SpfFail::Reject).expect("refused");
        assert!(refused.starts_with("550 5.7.23 "), "{refused}");
        assert!(at_rcpt(&spf(SpfResult::Fail), SpfFail::Tag).is_none());
        assert!(at_rcpt(&spf(SpfResult::SoftFail), SpfFail::Reject).is_none());
        let temp = at_rcpt(&spf(SpfResult::TempError), SpfFail::Reject).expect("deferred");
        assert!(temp.starts_with("451 4.7.5 "), "{temp}");
    }
}
