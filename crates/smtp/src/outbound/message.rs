//! What one transaction carries — the envelope (sender, recipients with their DSN
//! parameters), the body — and the MAIL and RCPT command lines made from it, with the
//! parameters the server's extensions allow (SIZE, BODY, SMTPUTF8, and RFC 3461 DSN's
//! RET, ENVID, NOTIFY, ORCPT in xtext).

pub use estafeta_store::{Notify, Ret};

/// One recipient and its DSN parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rcpt {
    pub address: String,
    pub notify: Option<Notify>,
    /// The original recipient, an RFC 822 address (with or without the `rfc822;` type).
    pub orcpt: Option<String>,
}

impl Rcpt {
    pub fn new(address: impl Into<String>) -> Rcpt {
        Rcpt {
            address: address.into(),
            notify: None,
            orcpt: None,
        }
    }
}

/// One message for one destination: every recipient there, in one transaction.
#[derive(Debug, Clone)]
pub struct OutboundMessage<'a> {
    /// The envelope sender; empty for the null sender `<>` (bounces).
    pub from: String,
    pub recipients: Vec<Rcpt>,
    /// The message as stored; line endings are made CRLF on the way out.
    pub body: &'a [u8],
    /// DSN ENVID.
    pub envid: Option<String>,
    /// DSN RET.
    pub ret: Option<Ret>,
    /// The message came in with SMTPUTF8: pass the parameter on where the server offers it.
    /// A UTF-8 address needs it in any case.
    pub smtputf8: bool,
}

/// What MAIL declares besides the sender.
pub(crate) struct MailParams {
    pub size: Option<usize>,
    pub eight_bit: bool,
    pub smtputf8: bool,
    pub dsn: bool,
}

pub(crate) fn mail_command(msg: &OutboundMessage<'_>, p: &MailParams) -> String {
    let mut line = format!("MAIL FROM:<{}>", msg.from);
    if let Some(size) = p.size {
        line.push_str(&format!(" SIZE={size}"));
    }
    if p.eight_bit {
        line.push_str(" BODY=8BITMIME");
    }
    if p.smtputf8 {
        line.push_str(" SMTPUTF8");
    }
    if p.dsn {
        if let Some(ret) = msg.ret {
            line.push_str(&format!(" RET={}", ret.as_str()));
        }
        if let Some(envid) = msg.envid.as_deref().filter(|e| e.is_ascii()) {
            line.push_str(&format!(" ENVID={}", xtext(envid)));
        }
    }
    line.push_str("\r\n");
    line
}

pub(crate) fn rcpt_command(rcpt: &Rcpt, dsn: bool) -> String {
    let mut line = format!("RCPT TO:<{}>", rcpt.address);
    if dsn {
        if let Some(notify) = rcpt.notify {
            line.push_str(&format!(" NOTIFY={notify}"));
        }
        if let Some(orcpt) = rcpt.orcpt.as_deref() {
            let address = orcpt
                .get(..7)
                .filter(|t| t.eq_ignore_ascii_case("rfc822;"))
                .map_or(orcpt, |_| &orcpt[7..]);
            // a UTF-8 original address would need RFC 6533's utf-8 type; it is left out
            if !address.is_empty() && address.is_ascii() {
                line.push_str(&format!(" ORCPT=rfc822;{}", xtext(address)));
            }
        }
    }
    line.push_str("\r\n");
    line
}

/// RFC 3461 §4 xtext: `+`, `=`, controls and space as `+HH`.
fn xtext(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> OutboundMessage<'static> {
        OutboundMessage {
            from: "a@x.test".into(),
            recipients: vec![],
            body: b"",
            envid: Some("id 1+2".into()),
            ret: Some(Ret::Headers),
            smtputf8: false,
        }
    }

    #[test]
    fn mail_parameters_only_as_allowed() {
        let none = MailParams {
            size: None,
            eight_bit: false,
            smtputf8: false,
            dsn: false,
        };
        assert_eq!(mail_command(&msg(), &none), "MAIL FROM:<a@x.test>\r\n");
        let all = MailParams {
            size: Some(42),
            eight_bit: true,
            smtputf8: true,
            dsn: true,
        };
        assert_eq!(
            mail_command(&msg(), &all),
            "MAIL FROM:<a@x.test> SIZE=42 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+201+2B2\r\n"
        );
    }

    #[test]
    fn rcpt_parameters() {
        let r = Rcpt {
            address: "b@y.test".into(),
            notify: Notify::parse("success,FAILURE"),
            orcpt: Some("rfc822;B=1@y.test".into()),
        };
        assert_eq!(rcpt_command(&r, false), "RCPT TO:<b@y.test>\r\n");
        assert_eq!(
            rcpt_command(&r, true),
            "RCPT TO:<b@y.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;B+3D1@y.test\r\n"
        );
        let r = Rcpt {
            notify: Some(Notify::NEVER),
            orcpt: Some("c@y.test".into()),
            ..Rcpt::new("c@y.test")
        };
        assert_eq!(
            rcpt_command(&r, true),
            "RCPT TO:<c@y.test> NOTIFY=NEVER ORCPT=rfc822;c@y.test\r\n"
        );
    }
}
