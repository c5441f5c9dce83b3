//! The PROXY protocol header (HAProxy's v1 text line and v2 binary block) that a proxy
//! sends first on `proxy_protocol` listeners, naming the real client and the address it
//! connected to. Parsing is the `ppp` crate's; the framing here reads exactly the header
//! (nothing of what follows, which may be a TLS ClientHello), within bounds:
//! - v1: at most [`MAX_V1`] octets, up to its CRLF (a v1 header is read an octet at a
//!   time, at most 107 reads);
//! - v2: the 16-octet preamble and at most [`MAX_V2_BODY`] octets of addresses and TLVs
//!   (HAProxy sends far fewer; a longer announced length is refused unread);
//! - time: the whole header within [`HEADER_TIMEOUT`] of the connection.
//!
//! `LOCAL` (v2) and `UNKNOWN` (v1) headers, and v2 headers of other address families,
//! carry no client: the connection is then the proxy's own (a health check), as the
//! specification says.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// The whole header must arrive within this time.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest v1 header, CRLF included (the specification's bound).
pub const MAX_V1: usize = 107;
/// The most octets a v2 header may announce after its 16-octet preamble: the addresses of
/// the largest family (UNIX, 216) and room for TLVs.
pub const MAX_V2_BODY: usize = 520;

const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// What the header said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxied {
    /// The real client and the address it connected to.
    Client {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// No client named (v2 LOCAL, v1 UNKNOWN, other families): the proxy itself.
    Local,
}

/// Why the header was not taken.
#[derive(Debug)]
pub enum HeaderError {
    TimedOut,
    Closed,
    TooLong,
    NotProxy,
    Malformed(String),
    Io(std::io::Error),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::TimedOut => {
                write!(f, "no complete PROXY header within {HEADER_TIMEOUT:?}")
            }
            HeaderError::Closed => write!(f, "closed before the end of the PROXY header"),
            HeaderError::TooLong => write!(f, "PROXY header too long"),
            HeaderError::NotProxy => write!(f, "the connection did not start with a PROXY header"),
            HeaderError::Malformed(why) => write!(f, "malformed PROXY header: {why}"),
            HeaderError::Io(e) => write!(f, "reading the PROXY header: {e}"),
        }
    }
}

fn io(e: std::io::Error) -> HeaderError {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        HeaderError::Closed
    } else {
        HeaderError::Io(e)
    }
}

/// Reads one header from the start of `stream`, within [`HEADER_TIMEOUT`].
pub async fn read_header<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Proxied, HeaderError> {
    match tokio::time::timeout(HEADER_TIMEOUT, read_unbounded_in_time(stream)).await {
        Ok(r) => r,
        Err(_) => Err(HeaderError::TimedOut),
    }
}

async fn read_unbounded_in_time<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<Proxied, HeaderError> {
    // Both forms are longer than 12 octets ("PROXY UNKNOWN\r\n" is 15).
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await.map_err(io)?;
    if &head == V2_SIGNATURE {
        let mut rest = [0u8; 4];
        stream.read_exact(&mut rest).await.map_err(io)?;
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        if len > MAX_V2_BODY {
            return Err(HeaderError::TooLong);
        }
        let mut header = Vec::with_capacity(16 + len);
        header.extend_from_slice(&head);
        header.extend_from_slice(&rest);
        header.resize(16 + len, 0);
        stream.read_exact(&mut header[16..]).await.map_err(io)?;
        return parse_v2(&header);
    }
    if !head.starts_with(b"PROXY ") {
        return Err(HeaderError::NotProxy);
    }
    let mut line = head.to_vec();
    while !line.ends_with(b"\r\n") {
        if line.len() >= MAX_V1 {
            return Err(HeaderError::TooLong);
        }
        line.push(stream.read_u8().await.map_err(io)?);
    }
    parse_v1(&line)
}

/// A complete v1 line, CRLF included.
pub fn parse_v1(line: &[u8]) -> Result<Proxied, HeaderError> {
    use ppp::v1::{Addresses, Header};
    // v1 is printable US-ASCII and its CRLF; anything else is refused here, before ppp
    // (whose v1 parser slices the text by octet counts and panics inside a multi-octet
    // character: found by the proxy_header fuzz target, kept in fuzz/regressions/)
    let body = line.strip_suffix(b"\r\n").unwrap_or(line);
    if !body.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(HeaderError::Malformed("not printable ASCII".into()));
    }
    let text = std::str::from_utf8(line).map_err(|_| HeaderError::Malformed("not ASCII".into()))?;
    let header = Header::try_from(text).map_err(|e| HeaderError::Malformed(e.to_string()))?;
    Ok(match header.addresses {
        Addresses::Tcp4(a) => Proxied::Client {
            source: (a.source_address, a.source_port).into(),
            destination: (a.destination_address, a.destination_port).into(),
        },
        Addresses::Tcp6(a) => Proxied::Client {
            source: (a.source_address, a.source_port).into(),
            destination: (a.destination_address, a.destination_port).into(),
        },
        Addresses::Unknown => Proxied::Local,
    })
}

/// A complete v2 header.
pub fn parse_v2(bytes: &[u8]) -> Result<Proxied, HeaderError> {
    use ppp::v2::{Addresses, Command, Header};
    let header = Header::try_from(bytes).map_err(|e| HeaderError::Malformed(e.to_string()))?;
    if header.command == Command::Local {
        return Ok(Proxied::Local);
    }
    Ok(match header.addresses {
        Addresses::IPv4(a) => Proxied::Client {
            source: (a.source_address, a.source_port).into(),
            destination: (a.destination_address, a.destination_port).into(),
        },
        Addresses::IPv6(a) => Proxied::Client {
            source: (a.source_address, a.source_port).into(),
            destination: (a.destination_address, a.destination_port).into(),
        },
        Addresses::Unspecified | Addresses::Unix(_) => Proxied::Local,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(bytes: &[u8]) -> (Result<Proxied, HeaderError>, Vec<u8>) {
        let mut input = bytes;
        let r = read_header(&mut input).await;
        (r, input.to_vec())
    }

    #[tokio::test]
    async fn v1_tcp4_and_tcp6_leave_what_follows() {
        let (r, rest) = read(b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\r\nEHLO x\r\n").await;
        assert_eq!(
            r.expect("v1"),
            Proxied::Client {
                source: "192.0.2.7:40000".parse().expect("a"),
                destination: "198.51.100.1:25".parse().expect("a")
            }
        );
        assert_eq!(rest, b"EHLO x\r\n");
        let (r, _) = read(b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 993\r\n").await;
        assert!(
            matches!(r, Ok(Proxied::Client { source, .. }) if source.ip() == "2001:db8::7".parse::<std::net::IpAddr>().expect("a"))
        );
        let (r, rest) = read(b"PROXY UNKNOWN\r\n\x16\x03").await;
        assert_eq!(r.expect("unknown"), Proxied::Local);
        assert_eq!(rest, b"\x16\x03");
    }

    #[tokio::test]
    async fn v2_proxy_and_local() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend([
            0x21, 0x11, 0, 12, 192, 0, 2, 7, 198, 51, 100, 1, 0x9c, 0x40, 0, 25,
        ]);
        h.extend(b"rest");
        let (r, rest) = read(&h).await;
        assert_eq!(
            r.expect("v2"),
            Proxied::Client {
                source: "192.0.2.7:40000".parse().expect("a"),
                destination: "198.51.100.1:25".parse().expect("a")
            }
        );
        assert_eq!(rest, b"rest");
        let mut local = V2_SIGNATURE.to_vec();
        local.extend([0x20, 0x00, 0, 0]);
        assert_eq!(read(&local).await.0.expect("local"), Proxied::Local);
    }

    #[tokio::test]
    async fn bad_headers_are_refused_within_bounds() {
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(200));
        assert!(matches!(
            read(long.as_bytes()).await.0,
            Err(HeaderError::TooLong)
        ));
        assert!(matches!(
            read(b"EHLO mail.example.com\r\n").await.0,
            Err(HeaderError::NotProxy)
        ));
        assert!(matches!(
            read(b"PROXY TCP4 999.0.2.7 198.51.100.1 40000 25\r\n")
                .await
                .0,
            Err(HeaderError::Malformed(_))
        ));
        assert!(matches!(
            read(b"PROXY TCP4 192.0").await.0,
            Err(HeaderError::Closed)
        ));
        // a multi-octet character where ppp slices by octets (a fuzzer find)
        assert!(matches!(
            read("PROXY TCP6 2db8::1 2d993\u{29a};X 1 2\r\n".as_bytes())
                .await
                .0,
            Err(HeaderError::Malformed(_))
        ));
        assert!(matches!(
            read(b"PROXY TCP4 192.0.2.7\t198.51.100.1 40000 25\r\n")
                .await
                .0,
            Err(HeaderError::Malformed(_))
        ));
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend([0x21, 0x11, 0xff, 0xff]);
        assert!(matches!(read(&huge).await.0, Err(HeaderError::TooLong)));
        let mut bad_version = V2_SIGNATURE.to_vec();
        bad_version.extend([0x31, 0x11, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert!(matches!(
            read(&bad_version).await.0,
            Err(HeaderError::Malformed(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_header_times_out() {
        let (_client, mut server) = tokio::io::duplex(64);
        let r = read_header(&mut server).await;
        assert!(matches!(r, Err(HeaderError::TimedOut)));
    }
}
