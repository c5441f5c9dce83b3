//! What every protocol server stands on: the listener table bound to real sockets, the
//! TLS set-up (a configured PEM certificate, or a self-signed one generated and kept), and
//! the accept loop that hands each connection, already wrapped in TLS on implicit-TLS
//! listeners, to the protocol's [`Service`].

mod listen;
mod stream;
mod tls;

pub use listen::{BindError, Bound, Connection, Service, bind_all, serve};
pub use stream::MaybeTls;
pub use tls::{TlsError, TlsSetup, TlsSource};
