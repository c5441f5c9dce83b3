//! Outlook's autodiscover for POP/IMAP accounts: the "POX" exchange (Outlook POSTs an
//! XML request naming the address to `/autodiscover/autodiscover.xml` and reads back the
//! Outlook response schema of 2006a, as [MS-OXDSCLI] describes it) and the JSON variant
//! newer Outlook asks first (`/autodiscover/autodiscover.json`, which only points at the
//! XML one).
//!
//! The request is read with quick-xml (a streaming reader: no recursion, and the body is
//! at most `MAX_BODY` octets); only the `EMailAddress` element's text is taken.

use quick_xml::events::Event;

use crate::clients::{ClientSettings, Endpoint, Security};
use crate::html::escape;

const RESPONSE_SCHEMA: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/// The `EMailAddress` of a POX request; `None` when the request is not XML or has none.
pub fn requested_address(body: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(body);
    let mut inside = false;
    let mut text = String::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref().eq_ignore_ascii_case("EMailAddress") => {
                inside = true;
                text.clear();
            }
            Event::End(e)
                if inside && e.local_name().as_ref().eq_ignore_ascii_case("EMailAddress") =>
            {
                let address = text.trim();
                return (!address.is_empty()).then(|| address.to_string());
            }
            Event::Text(t) if inside => text.push_str(&t.xml10_content()),
            Event::CData(t) if inside => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if inside => {
                let c = match r.resolve_char_ref().ok()? {
                    Some(c) => c,
                    None => match &*r {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        _ => return None,
                    },
                };
                text.push(c);
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

/// The POX response for `address`: one IMAP, one POP3 and one SMTP entry (Outlook takes
/// the first of each type), the best port of each.
pub fn response(address: &str, clients: &ClientSettings) -> String {
    let mut protocols = String::new();
    for (kind, list) in [
        ("IMAP", &clients.imap),
        ("POP3", &clients.pop3),
        ("SMTP", &clients.submission),
    ] {
        if let Some(e) = list.first() {
            protocols.push_str(&protocol(kind, &clients.hostname, address, e));
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\">\n\
         \x20 <Response xmlns=\"{RESPONSE_SCHEMA}\">\n\
         \x20   <User><DisplayName>{a}</DisplayName></User>\n\
         \x20   <Account>\n\
         \x20     <AccountType>email</AccountType>\n\
         \x20     <Action>settings</Action>\n\
         {protocols}\
         \x20   </Account>\n\
         \x20 </Response>\n\
         </Autodiscover>\n",
        a = escape(address)
    )
}

fn protocol(kind: &str, hostname: &str, address: &str, e: &Endpoint) -> String {
    // SSL on with Encryption SSL: TLS from the first byte; Encryption TLS: STARTTLS
    let encryption = match e.security {
        Security::Tls => "SSL",
        Security::Starttls => "TLS",
    };
    format!(
        "      <Protocol>\n\
         \x20       <Type>{kind}</Type>\n\
         \x20       <Server>{}</Server>\n\
         \x20       <Port>{}</Port>\n\
         \x20       <LoginName>{}</LoginName>\n\
         \x20       <DomainRequired>off</DomainRequired>\n\
         \x20       <SPA>off</SPA>\n\
         \x20       <SSL>on</SSL>\n\
         \x20       <Encryption>{encryption}</Encryption>\n\
         \x20       <AuthRequired>on</AuthRequired>\n\
         \x20     </Protocol>\n",
        escape(hostname),
        e.port,
        escape(address)
    )
}

/// The JSON variant's answer: where the XML autodiscover is.
pub fn json_pointer(host: &str) -> serde_json::Value {
    serde_json::json!({
        "Protocol": "AutodiscoverV1",
        "Url": format!("https://{host}/autodiscover/autodiscover.xml"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_address_of_outlooks_request() {
        let body = r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>ana&amp;co@example.test</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"#;
        assert_eq!(
            requested_address(body).as_deref(),
            Some("ana&co@example.test")
        );
    }

    #[test]
    fn junk_has_no_address() {
        for body in [
            "",
            "not xml",
            "<a><EMailAddress>",
            "<EMailAddress></EMailAddress>",
            "<EMailAddress>&bogus;</EMailAddress>",
        ] {
            assert_eq!(requested_address(body), None, "{body:?}");
        }
    }
}
