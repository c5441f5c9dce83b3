//! Who is on the other end of a session, as the policy modules (`sender`, `recipients`,
//! `assembly`) see it: the session's state machine builds one view per command from
//! what it has learnt (address, HELO, TLS, login), and the policy decides from it.

use std::net::IpAddr;

use estafeta_store::User;

use super::SmtpState;

pub struct Client<'a> {
    pub ip: IpAddr,
    /// The EHLO/HELO name, `None` before it.
    pub helo: Option<&'a str>,
    /// EHLO rather than HELO.
    pub esmtp: bool,
    /// TLS version and cipher, when the connection is encrypted.
    pub tls: Option<&'a (String, String)>,
    /// The logged-in user.
    pub user: Option<&'a User>,
    /// A submission listener (587, 465): MAIL needs a login.
    pub submission: bool,
}

impl Client<'_> {
    /// One of our users: logged in, or connecting from `smtp.trusted_networks`. Only they
    /// may relay, and only their mail counts against a domain's rate limits.
    pub fn is_ours(&self, shared: &SmtpState) -> bool {
        self.user.is_some() || shared.trusted.contains(self.ip)
    }

    /// Mail from outside: not logged in, not from `trusted_networks`, on an MX listener.
    /// Only it is checked (SPF, DKIM, ARC, DMARC).
    pub fn is_outside(&self, shared: &SmtpState) -> bool {
        !self.submission && !self.is_ours(shared)
    }
}
