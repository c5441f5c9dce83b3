//! What every protocol server stands on: the listener table bound to real sockets, the
//! TLS set-up (a configured PEM certificate, or a self-signed one generated and kept), and
//! the accept loop that hands each connection, already wrapped in TLS on implicit-TLS
//! listeners, to the protocol's [`Service`]; and the pieces the line-based protocols
//! share: line I/O with pipelining, the STARTTLS swap and COMPRESS=DEFLATE, the connection-limit refusal,
//! the SASL exchange (PLAIN, LOGIN, SCRAM-SHA-256) and logging in through the failed-login
//! throttle, the PROXY protocol header and the command budgets before authentication (per
//! client, IPv6 grouped by prefix); and the client side of TLS for outbound SMTP and HTTPS, with the roots it trusts.

pub mod acme;
pub mod certs;
pub mod client_tls;
mod command_budget;
pub mod compress;
pub mod dates;
mod limits;
mod lineio;
mod listen;
pub mod login;
mod networks;
pub mod proxy;
pub mod roots;
pub mod sasl;
pub mod scram;
mod stream;
mod table;
#[cfg(feature = "testing")]
pub mod testing;
mod throttle;
mod tls;

pub use command_budget::CommandBudget;
pub use limits::{ConnectionLimits, ConnectionSlot, Refusal, RefusalWords};
pub use lineio::{BoundedLine, IoError, Line, LineIo};
pub use listen::{BindError, Bound, Connection, MAX_TLS_HANDSHAKES, Service, bind_all, serve};
pub use networks::{Networks, client_group};
pub use stream::MaybeTls;
pub use throttle::{Attempt, AuthThrottle, Blocked, ThrottleSettings};
pub use tls::{TlsError, TlsSetup, TlsSource};
