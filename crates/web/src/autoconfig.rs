//! Thunderbird's autoconfig document (`clientConfig` version 1.1, as Thunderbird and
//! K-9/Thunderbird for Android read it), for one of our domains: asked at
//! `https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=…` or at
//! `/.well-known/autoconfig/mail/config-v1.1.xml` of the domain itself. The user name is
//! the whole address (`%EMAILADDRESS%`), which is how estafeta's users log in.

use crate::clients::{ClientSettings, Endpoint, Security};
use crate::html::escape;

/// The document for `domain` (lower case, one of ours).
pub fn document(domain: &str, clients: &ClientSettings) -> String {
    let mut servers = String::new();
    for (kind, list, tag) in [
        ("imap", &clients.imap, "incomingServer"),
        ("pop3", &clients.pop3, "incomingServer"),
        ("smtp", &clients.submission, "outgoingServer"),
    ] {
        for e in list {
            servers.push_str(&server(tag, kind, &clients.hostname, e));
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <clientConfig version=\"1.1\">\n\
         \x20 <emailProvider id=\"{d}\">\n\
         \x20   <domain>{d}</domain>\n\
         \x20   <displayName>{d} mail</displayName>\n\
         \x20   <displayShortName>{d}</displayShortName>\n\
         {servers}\
         \x20 </emailProvider>\n\
         </clientConfig>\n",
        d = escape(domain)
    )
}

fn server(tag: &str, kind: &str, hostname: &str, e: &Endpoint) -> String {
    let socket = match e.security {
        Security::Tls => "SSL",
        Security::Starttls => "STARTTLS",
    };
    format!(
        "    <{tag} type=\"{kind}\">\n\
         \x20     <hostname>{}</hostname>\n\
         \x20     <port>{}</port>\n\
         \x20     <socketType>{socket}</socketType>\n\
         \x20     <authentication>password-cleartext</authentication>\n\
         \x20     <username>%EMAILADDRESS%</username>\n\
         \x20   </{tag}>\n",
        escape(hostname),
        e.port
    )
}
