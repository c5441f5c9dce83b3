//! The stand-in for a protocol server not built yet (IMAP): its listeners answer with the
//! protocol's own "service not available" reply and close, so clients fail fast and
//! clearly. SMTP and POP3 are wired in `commands/serve.rs`.

use async_trait::async_trait;
use estafeta_config::Protocol;
use estafeta_net::{Connection, Service};
use tokio::io::AsyncWriteExt;

pub struct Unavailable {
    pub protocol: Protocol,
    pub hostname: String,
}

#[async_trait]
impl Service for Unavailable {
    async fn handle(&self, mut conn: Connection) {
        let line = match self.protocol {
            Protocol::Smtp | Protocol::Submission => {
                format!("421 4.3.2 {} service not available\r\n", self.hostname)
            }
            Protocol::Imap => "* BYE service not available\r\n".to_string(),
            Protocol::Pop3 => "-ERR [SYS/TEMP] service not available\r\n".to_string(),
        };
        tracing::info!(peer = %conn.peer, protocol = self.protocol.as_str(), "connection refused: service not available");
        let _ = conn.stream.write_all(line.as_bytes()).await;
        let _ = conn.stream.shutdown().await;
    }
}
