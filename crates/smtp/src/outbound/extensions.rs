//! What the server offers, from its EHLO reply (parsed by smtp-proto's `EhloResponse`),
//! reduced to the extensions the client acts on. After HELO, or an EHLO reply smtp-proto
//! cannot read, nothing is offered: plain RFC 5321 is always safe.

use smtp_proto::{
    AUTH_LOGIN, AUTH_PLAIN, EXT_8BIT_MIME, EXT_AUTH, EXT_CHUNKING, EXT_DSN,
    EXT_ENHANCED_STATUS_CODES, EXT_PIPELINING, EXT_SIZE, EXT_SMTP_UTF8, EXT_START_TLS,
    EhloResponse,
};

/// The extensions a server offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// The name the server gave in its EHLO reply.
    pub hostname: String,
    pub pipelining: bool,
    /// `SIZE` was offered; `max_size` is its limit, 0 when it gave none.
    pub size: bool,
    pub max_size: u64,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub chunking: bool,
    pub dsn: bool,
    pub starttls: bool,
    pub enhanced_status_codes: bool,
    pub auth_plain: bool,
    pub auth_login: bool,
}

impl Extensions {
    /// From the raw lines of a 250 reply to EHLO; `None` when smtp-proto cannot read it.
    pub(crate) fn parse(raw: &[u8]) -> Option<Extensions> {
        let ehlo = EhloResponse::parse(&mut raw.iter()).ok()?;
        let has = |ext| ehlo.has_capability(ext);
        let auth = has(EXT_AUTH);
        Some(Extensions {
            hostname: ehlo.hostname.clone(),
            pipelining: has(EXT_PIPELINING),
            size: has(EXT_SIZE),
            max_size: ehlo.size as u64,
            eight_bit_mime: has(EXT_8BIT_MIME),
            smtputf8: has(EXT_SMTP_UTF8),
            chunking: has(EXT_CHUNKING),
            dsn: has(EXT_DSN),
            starttls: has(EXT_START_TLS),
            enhanced_status_codes: has(EXT_ENHANCED_STATUS_CODES),
            auth_plain: auth && ehlo.auth_mechanisms & AUTH_PLAIN != 0,
            auth_login: auth && ehlo.auth_mechanisms & AUTH_LOGIN != 0,
        })
    }

    /// The extensions offered, by name, for the log.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.pipelining, "PIPELINING"),
            (self.size, "SIZE"),
            (self.eight_bit_mime, "8BITMIME"),
            (self.smtputf8, "SMTPUTF8"),
            (self.chunking, "CHUNKING"),
            (self.dsn, "DSN"),
            (self.starttls, "STARTTLS"),
            (self.enhanced_status_codes, "ENHANCEDSTATUSCODES"),
            (self.auth_plain, "AUTH=PLAIN"),
            (self.auth_login, "AUTH=LOGIN"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_ehlo_reply() {
        let raw = b"250-mail.test\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n250-8BITMIME\r\n\
                    250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-DSN\r\n\
                    250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n";
        let e = Extensions::parse(raw).unwrap();
        assert_eq!(e.hostname, "mail.test");
        assert!(e.pipelining && e.size && e.eight_bit_mime && e.smtputf8 && e.chunking);
        assert!(e.dsn && e.starttls && e.enhanced_status_codes && e.auth_plain && e.auth_login);
        assert_eq!(e.max_size, 26214400);
    }

    #[test]
    fn reads_what_big_providers_and_older_servers_say() {
        let gmail = b"250-mx.google.com at your service, [192.0.2.1]\r\n250-SIZE 157286400\r\n\
                      250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n\
                      250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n";
        let e = Extensions::parse(gmail).unwrap();
        assert_eq!(e.hostname, "mx.google.com");
        assert!(e.starttls && e.chunking && e.smtputf8 && !e.dsn);
        assert_eq!(e.max_size, 157286400);
        let exchange = b"250-EX01.corp.example Hello [192.0.2.1]\r\n250-SIZE 37748736\r\n\
                         250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n\
                         250-STARTTLS\r\n250-X-ANONYMOUSTLS\r\n250-AUTH NTLM\r\n\
                         250-X-EXPS GSSAPI NTLM\r\n250-8BITMIME\r\n250-BINARYMIME\r\n\
                         250-CHUNKING\r\n250 XRDST\r\n";
        let e = Extensions::parse(exchange).unwrap();
        assert!(e.dsn && e.chunking && e.eight_bit_mime && e.starttls);
        assert!(!e.auth_plain && !e.auth_login);
        let old = b"250-mail.example.org\r\n250-ETRN\r\n250-AUTH LOGIN PLAIN\r\n\
                    250-AUTH=LOGIN PLAIN\r\n250 8BITMIME\r\n";
        let e = Extensions::parse(old).unwrap();
        assert!(e.auth_login && e.auth_plain && e.eight_bit_mime);
    }

    #[test]
    fn bare_greeting_and_unknown_extensions() {
        let e = Extensions::parse(b"250 mx.example\r\n").unwrap();
        assert_eq!(e.names(), Vec::<&str>::new());
        let e = Extensions::parse(b"250-mx\r\n250-X-FOO bar\r\n250-SIZE\r\n250 AUTH LOGIN\r\n")
            .unwrap();
        assert!(e.size && e.max_size == 0 && e.auth_login && !e.auth_plain);
    }
}
