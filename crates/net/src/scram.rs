//! SASL SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, server side (RFC 5802, RFC 7677), with the
//! `tls-exporter` channel binding (RFC 9266): parsing the client's two messages, the
//! server's two answers, and the proof check against stored keys. SMTP AUTH, IMAP
//! AUTHENTICATE and POP3 AUTH carry the messages; the store keeps the keys.
//!
//! The state machine is written here, on RustCrypto's hmac and sha2: the SCRAM crates did
//! not fit a server that looks users up asynchronously — `scram` (last release 2021) has
//! no channel binding, `rsasl` asks for the stored keys through a synchronous callback
//! that cannot await the store, and `scram-rs` builds on ring, aws-lc and OpenSSL at once.
//!
//! Bounds: a client message is at most [`MAX_MESSAGE`] octets after base64, a nonce
//! [`MAX_NONCE`], a user name [`MAX_NAME`], and a message has at most [`MAX_ATTRIBUTES`]
//! attributes; anything else is [`Failure::Malformed`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Longest client message, in octets after base64 decoding.
pub const MAX_MESSAGE: usize = 4096;
/// Longest client nonce.
pub const MAX_NONCE: usize = 256;
/// Longest user name or authorization identity, in octets after `=2C`/`=3D` decoding.
pub const MAX_NAME: usize = 512;
/// Most attributes in one client message.
pub const MAX_ATTRIBUTES: usize = 16;
/// RFC 9266 §2: the exporter label of the `tls-exporter` channel binding (no context,
/// 32 octets).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";
/// The only channel binding type offered.
pub const CHANNEL_BINDING: &str = "tls-exporter";

/// The two mechanisms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Sha256,
    Sha256Plus,
}

impl Mechanism {
    /// The mechanism a (case-insensitive) SASL name stands for.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        if name.eq_ignore_ascii_case("SCRAM-SHA-256") {
            Some(Mechanism::Sha256)
        } else if name.eq_ignore_ascii_case("SCRAM-SHA-256-PLUS") {
            Some(Mechanism::Sha256Plus)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Sha256 => "SCRAM-SHA-256",
            Mechanism::Sha256Plus => "SCRAM-SHA-256-PLUS",
        }
    }

    /// Whether this connection offers it: -PLUS only where there is a binding to bind to.
    pub fn offered(self, binding: Option<&[u8; 32]>) -> bool {
        self == Mechanism::Sha256 || binding.is_some()
    }
}

/// A user's stored keys (see `estafeta_store::ScramKeys`).
pub struct Secrets {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

/// Why an exchange failed. [`Failure::is_protocol_error`] tells the client's mistakes
/// (answered as a syntax error) from failed authentication (answered as a wrong password,
/// and counted by the failed-login throttle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Not a SCRAM message.
    Malformed(&'static str),
    /// An authorization identity other than the user's own (no proxy logins).
    AuthzidRefused,
    /// A mandatory extension or channel binding type that is not offered.
    Unsupported(&'static str),
    /// The client supports channel binding but thinks the server does not, while this
    /// connection offered -PLUS: someone removed it on the way (RFC 5802 §6).
    Downgrade,
    /// The channel binding data differs from this connection's.
    BindingMismatch,
    /// The proof does not match the stored keys (wrong password, unknown user, no keys).
    WrongProof,
}

impl Failure {
    pub fn is_protocol_error(self) -> bool {
        matches!(
            self,
            Failure::Malformed(_) | Failure::AuthzidRefused | Failure::Unsupported(_)
        )
    }

    /// For the log.
    pub fn reason(self) -> &'static str {
        match self {
            Failure::Malformed(why) | Failure::Unsupported(why) => why,
            Failure::AuthzidRefused => "authorization identity other than the user's own",
            Failure::Downgrade => "client claims the server offers no channel binding (downgrade)",
            Failure::BindingMismatch => "channel binding data does not match this connection",
            Failure::WrongProof => "proof does not match",
        }
    }
}

/// The gs2 channel binding flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flag {
    /// `n`: the client does not support channel binding.
    No,
    /// `y`: it does, but thinks the server does not.
    Yes,
    /// `p=tls-exporter`: bound to this connection.
    Bound,
}

/// A parsed client-first-message.
#[derive(Debug)]
pub struct ClientFirst {
    /// The user name, `=2C`/`=3D` decoded.
    pub username: String,
    gs2_header: String,
    bare: String,
    nonce: String,
    flag: Flag,
    binding: Option<[u8; 32]>,
}

/// An exchange waiting for the client-final-message.
pub struct Exchange {
    first: ClientFirst,
    server_first: String,
    nonce: String,
    secrets: Secrets,
}

/// A server message as it goes on the wire (base64).
pub fn encode(message: &str) -> String {
    STANDARD.encode(message)
}

/// The client's base64 response as octets, bounded.
pub fn decode(b64: &str) -> Result<Vec<u8>, Failure> {
    let b64 = b64.trim();
    if b64.len() > MAX_MESSAGE.div_ceil(3) * 4 {
        return Err(Failure::Malformed("message too long"));
    }
    STANDARD
        .decode(b64)
        .map_err(|_| Failure::Malformed("not base64"))
}

/// Reads the client-first-message of `mechanism` on a connection whose `tls-exporter`
/// value is `binding` (`None`: plaintext or TLS 1.2, where -PLUS is not offered).
pub fn client_first(
    message: &[u8],
    mechanism: Mechanism,
    binding: Option<&[u8; 32]>,
) -> Result<ClientFirst, Failure> {
    let text = utf8(message)?;
    let (flag_text, rest) = text
        .split_once(',')
        .ok_or(Failure::Malformed("no gs2 header"))?;
    let (authzid, bare) = rest
        .split_once(',')
        .ok_or(Failure::Malformed("no gs2 header"))?;
    let flag = match flag_text {
        "n" => Flag::No,
        "y" => Flag::Yes,
        _ => match flag_text.strip_prefix("p=") {
            Some(CHANNEL_BINDING) => Flag::Bound,
            Some(_) => return Err(Failure::Unsupported("channel binding type not offered")),
            None => return Err(Failure::Malformed("bad channel binding flag")),
        },
    };
    match (mechanism, flag) {
        (Mechanism::Sha256Plus, Flag::Bound) if binding.is_none() => {
            return Err(Failure::Unsupported(
                "no channel binding on this connection",
            ));
        }
        (Mechanism::Sha256Plus, Flag::Bound) => {}
        (Mechanism::Sha256Plus, _) => {
            return Err(Failure::Malformed("-PLUS without channel binding"));
        }
        (Mechanism::Sha256, Flag::Bound) => {
            return Err(Failure::Malformed("channel binding without -PLUS"));
        }
        (Mechanism::Sha256, Flag::Yes) if binding.is_some() => return Err(Failure::Downgrade),
        (Mechanism::Sha256, _) => {}
    }
    let authzid = match authzid {
        "" => None,
        a => Some(saslname(
            a.strip_prefix("a=")
                .ok_or(Failure::Malformed("bad authorization identity"))?,
        )?),
    };
    let mut attributes = attributes(bare)?;
    let (key, value) = attributes
        .next()
        .ok_or(Failure::Malformed("no user name"))?;
    if key == 'm' {
        return Err(Failure::Unsupported("mandatory extension"));
    }
    if key != 'n' {
        return Err(Failure::Malformed("no user name"));
    }
    let username = saslname(value)?;
    let nonce = match attributes.next() {
        Some(('r', n)) => nonce(n)?,
        _ => return Err(Failure::Malformed("no nonce")),
    };
    // what follows are extensions, already checked to be attributes: ignored
    if authzid.is_some_and(|a| !a.eq_ignore_ascii_case(&username)) {
        return Err(Failure::AuthzidRefused);
    }
    Ok(ClientFirst {
        username,
        gs2_header: text[..text.len() - bare.len()].to_string(),
        bare: bare.to_string(),
        nonce: nonce.to_string(),
        flag,
        binding: binding.copied(),
    })
}

impl ClientFirst {
    /// The server-first-message for these keys, with a fresh server nonce.
    pub fn server_first(self, secrets: Secrets) -> (Exchange, String) {
        let server_nonce: [u8; 24] = rand::random();
        self.server_first_with(secrets, &STANDARD.encode(server_nonce))
    }

    fn server_first_with(self, secrets: Secrets, server_nonce: &str) -> (Exchange, String) {
        let nonce = format!("{}{server_nonce}", self.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&secrets.salt),
            secrets.iterations
        );
        let message = server_first.clone();
        (
            Exchange {
                first: self,
                server_first,
                nonce,
                secrets,
            },
            message,
        )
    }
}

impl Exchange {
    /// Checks the client-final-message; the server-final-message (`v=…`) when the proof
    /// is right.
    pub fn finish(self, message: &[u8]) -> Result<String, Failure> {
        let text = utf8(message)?;
        let (without_proof, proof) = text
            .rsplit_once(',')
            .ok_or(Failure::Malformed("no proof"))?;
        let proof = proof
            .strip_prefix("p=")
            .ok_or(Failure::Malformed("no proof"))?;
        let proof: [u8; 32] = STANDARD
            .decode(proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or(Failure::Malformed("bad proof"))?;
        let mut attributes = attributes(without_proof)?;
        let cbind = match attributes.next() {
            Some(('c', c)) => STANDARD
                .decode(c)
                .map_err(|_| Failure::Malformed("bad channel binding"))?,
            _ => return Err(Failure::Malformed("no channel binding")),
        };
        match attributes.next() {
            Some(('r', n)) if n == self.nonce => {}
            Some(('r', _)) => return Err(Failure::Malformed("nonce does not match")),
            _ => return Err(Failure::Malformed("no nonce")),
        }
        // what follows are extensions, already checked to be attributes: ignored
        let mut expected = self.first.gs2_header.as_bytes().to_vec();
        if self.first.flag == Flag::Bound {
            expected.extend_from_slice(self.first.binding.as_ref().map_or(&[][..], |b| &b[..]));
        }
        if cbind != expected {
            return Err(Failure::BindingMismatch);
        }
        let auth_message = format!("{},{},{without_proof}", self.first.bare, self.server_first);
        let signature = hmac(&self.secrets.stored_key, auth_message.as_bytes());
        let mut client_key = proof;
        for (k, s) in client_key.iter_mut().zip(signature) {
            *k ^= s;
        }
        let stored: [u8; 32] = Sha256::digest(client_key).into();
        if !bool::from(stored.ct_eq(&self.secrets.stored_key)) {
            return Err(Failure::WrongProof);
        }
        let server_signature = hmac(&self.secrets.server_key, auth_message.as_bytes());
        Ok(format!("v={}", STANDARD.encode(server_signature)))
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn utf8(message: &[u8]) -> Result<&str, Failure> {
    if message.len() > MAX_MESSAGE {
        return Err(Failure::Malformed("message too long"));
    }
    std::str::from_utf8(message).map_err(|_| Failure::Malformed("not UTF-8"))
}

/// `k=value` attributes separated by commas, at most [`MAX_ATTRIBUTES`].
fn attributes(text: &str) -> Result<impl Iterator<Item = (char, &str)>, Failure> {
    let parts: Vec<&str> = text.split(',').collect();
    if parts.len() > MAX_ATTRIBUTES {
        return Err(Failure::Malformed("too many attributes"));
    }
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let mut chars = part.chars();
        match (chars.next(), chars.next()) {
            (Some(k), Some('=')) if k.is_ascii_alphabetic() => out.push((k, &part[2..])),
            _ => return Err(Failure::Malformed("bad attribute")),
        }
    }
    Ok(out.into_iter())
}

/// RFC 5802 saslname: `=2C` is `,` and `=3D` is `=`; any other `=` is an error.
fn saslname(text: &str) -> Result<String, Failure> {
    if text.is_empty() || text.len() > MAX_NAME {
        return Err(Failure::Malformed("bad name length"));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") | Some("=2c") => out.push(','),
            Some("=3D") | Some("=3d") => out.push('='),
            _ => return Err(Failure::Malformed("bad escape in name")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    if out.chars().any(char::is_control) {
        return Err(Failure::Malformed("control character in name"));
    }
    Ok(out)
}

/// RFC 5802 nonce: printable ASCII but `,`.
fn nonce(text: &str) -> Result<&str, Failure> {
    if text.is_empty() || text.len() > MAX_NONCE {
        return Err(Failure::Malformed("bad nonce length"));
    }
    if !text.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(Failure::Malformed("bad character in nonce"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3's example: user "user", password "pencil".
    fn pencil() -> Secrets {
        let key = |b64: &str| -> [u8; 32] { STANDARD.decode(b64).unwrap().try_into().unwrap() };
        Secrets {
            iterations: 4096,
            salt: STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap(),
            stored_key: key("WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="),
            server_key: key("wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="),
        }
    }

    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

    fn start(first: &str, binding: Option<&[u8; 32]>) -> Exchange {
        let mechanism = if first.starts_with("p=") {
            Mechanism::Sha256Plus
        } else {
            Mechanism::Sha256
        };
        let first = client_first(first.as_bytes(), mechanism, binding).unwrap();
        first.server_first_with(pencil(), SERVER_NONCE).0
    }

    #[test]
    fn rfc_7677_exchange() {
        let first =
            client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", Mechanism::Sha256, None).unwrap();
        assert_eq!(first.username, "user");
        let (exchange, server_first) = first.server_first_with(pencil(), SERVER_NONCE);
        assert_eq!(
            server_first,
            format!("r={NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        );
        let last = format!("c=biws,r={NONCE},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        assert_eq!(
            exchange.finish(last.as_bytes()).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn wrong_proof_nonce_and_binding() {
        let proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        let bad_proof = "p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        let first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
        let finish = |last: String| start(first, None).finish(last.as_bytes());
        assert_eq!(
            finish(format!("c=biws,r={NONCE},{bad_proof}")),
            Err(Failure::WrongProof)
        );
        assert_eq!(
            finish(format!("c=biws,r={NONCE}x,{proof}")),
            Err(Failure::Malformed("nonce does not match"))
        );
        // "y,," where "n,," was sent
        assert_eq!(
            finish(format!("c=eSws,r={NONCE},{proof}")),
            Err(Failure::BindingMismatch)
        );
        assert!(matches!(
            finish(format!("c=biws,r={NONCE},p=short")),
            Err(Failure::Malformed(_))
        ));
        assert!(matches!(
            finish(format!("r={NONCE},c=biws,{proof}")),
            Err(Failure::Malformed(_))
        ));
    }

    #[test]
    fn channel_binding_rules() {
        let cb = [7u8; 32];
        let plus = Mechanism::Sha256Plus;
        let plain = Mechanism::Sha256;
        let parse = |m: &str, mech, b| client_first(m.as_bytes(), mech, b).map(|_| ());
        assert_eq!(parse("p=tls-exporter,,n=u,r=abc", plus, Some(&cb)), Ok(()));
        assert_eq!(
            parse("p=tls-unique,,n=u,r=abc", plus, Some(&cb)),
            Err(Failure::Unsupported("channel binding type not offered"))
        );
        assert!(parse("p=tls-exporter,,n=u,r=abc", plus, None).is_err());
        assert!(parse("n,,n=u,r=abc", plus, Some(&cb)).is_err());
        assert!(parse("p=tls-exporter,,n=u,r=abc", plain, Some(&cb)).is_err());
        assert_eq!(
            parse("y,,n=u,r=abc", plain, Some(&cb)),
            Err(Failure::Downgrade)
        );
        assert_eq!(parse("y,,n=u,r=abc", plain, None), Ok(()));
        // the binding data must be this connection's
        let header = "p=tls-exporter,,";
        let mut c = header.as_bytes().to_vec();
        c.extend_from_slice(&cb);
        let good = STANDARD.encode(&c);
        c[20] ^= 1;
        let bad = STANDARD.encode(&c);
        let first = format!("{header}n=user,r=rOprNGfwEbeRWgbNEkqO");
        let proof = "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        let try_last = |c: &str| {
            start(&first, Some(&cb)).finish(format!("c={c},r={NONCE},{proof}").as_bytes())
        };
        assert_eq!(try_last(&bad), Err(Failure::BindingMismatch));
        // right binding, proof made for another AuthMessage
        assert_eq!(try_last(&good), Err(Failure::WrongProof));
    }

    #[test]
    fn names_authzid_and_bounds() {
        let parse = |m: &str| client_first(m.as_bytes(), Mechanism::Sha256, None);
        assert_eq!(parse("n,,n=a=2Cb=3Dc,r=x").unwrap().username, "a,b=c");
        assert_eq!(
            parse("n,a=bob@example.com,n=BOB@example.com,r=x")
                .unwrap()
                .username,
            "BOB@example.com"
        );
        assert_eq!(
            parse("n,a=admin,n=bob,r=x").unwrap_err(),
            Failure::AuthzidRefused
        );
        assert_eq!(
            parse("n,,m=ext,n=bob,r=x").unwrap_err(),
            Failure::Unsupported("mandatory extension")
        );
        for bad in [
            "",
            "n",
            "n,,",
            "x,,n=bob,r=x",
            "n,,n=bob",
            "n,,r=x,n=bob",
            "n,,n=,r=x",
            "n,,n=b=2Xob,r=x",
            "n,,n=bob,r=",
            "n,,n=bob,r=a b",
            "n,,n=bob\u{1},r=x",
            "n,,n=bob,r=x,=y",
            "n,,n=bob,r=x,a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9,j=10,k=11,l=12,m=13,o=14,p=15",
        ] {
            assert!(
                matches!(parse(bad), Err(Failure::Malformed(_))),
                "{bad:?}: {:?}",
                parse(bad)
            );
        }
        let long_nonce = format!("n,,n=bob,r={}", "x".repeat(MAX_NONCE + 1));
        assert!(parse(&long_nonce).is_err());
        assert!(client_first(&[b'n'; MAX_MESSAGE + 1], Mechanism::Sha256, None).is_err());
        assert!(client_first(b"n,,n=\xff,r=x", Mechanism::Sha256, None).is_err());
        assert!(decode(&"A".repeat(MAX_MESSAGE * 2)).is_err());
        assert!(decode("not base64!").is_err());
    }
}
