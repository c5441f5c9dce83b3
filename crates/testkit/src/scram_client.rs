//! A SCRAM-SHA-256 client independent of ours for the protocol suites: Python's `scramp`
//! run as a co-process, to which a test hands the server's challenges and from which it
//! takes the responses, while the Rust test client owns the connection. That split is
//! for -PLUS: the `tls-exporter` channel binding (RFC 9266) is computed by the Rust
//! client with rustls (Python's ssl module cannot export keying material, and scramp
//! refuses the `tls-exporter` name for that reason alone; the script lifts that refusal,
//! the SCRAM computation stays scramp's).

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const SCRIPT: &str = r#"
import base64, sys
import scramp, scramp.core
scramp.core.CbName.SUPPORTED_TYPES = scramp.core.CbName.SUPPORTED_TYPES | {"tls-exporter"}
scramp.core.CbName.UNSUPPORTED_TYPES = frozenset()
mechanism, user, password, cb = sys.argv[1:5]
binding = None if cb == "-" else ("tls-exporter", bytes.fromhex(cb))
c = scramp.ScramClient([mechanism], user, password, channel_binding=binding)
def out(text):
    print(base64.b64encode(text.encode()).decode(), flush=True)
out(c.get_client_first())
c.set_server_first(base64.b64decode(sys.stdin.readline()).decode())
out(c.get_client_final())
c.set_server_final(base64.b64decode(sys.stdin.readline()).decode())
print("verified", flush=True)
"#;

pub struct ScramClient {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl ScramClient {
    /// Starts scramp for `mechanism` (`SCRAM-SHA-256` or `SCRAM-SHA-256-PLUS`); with
    /// `binding` it is given channel binding data (with `SCRAM-SHA-256` it then says `y`:
    /// it could bind but thinks the server cannot). Returns the client-first-message in
    /// base64.
    pub async fn start(
        mechanism: &str,
        user: &str,
        password: &str,
        binding: Option<&[u8]>,
    ) -> (ScramClient, String) {
        let cb = binding.map_or("-".to_string(), |b| {
            b.iter().map(|x| format!("{x:02x}")).collect()
        });
        let mut child = Command::new("python3")
            .args(["-c", SCRIPT, mechanism, user, password, &cb])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut client = ScramClient {
            _child: child,
            stdin,
            stdout,
        };
        let first = client.read().await;
        (client, first)
    }

    async fn read(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).await.expect("read");
        assert!(!line.is_empty(), "scramp failed (is it installed?)");
        line.trim_end().to_string()
    }

    /// The response to a server challenge (base64, as on the wire): the
    /// client-final-message, or after the server-final-message, once scramp has checked
    /// the server's signature, the empty response.
    pub async fn answer(&mut self, challenge: &str) -> String {
        self.stdin
            .write_all(format!("{}\n", challenge.trim()).as_bytes())
            .await
            .expect("write");
        self.stdin.flush().await.expect("flush");
        let line = self.read().await;
        if line == "verified" {
            String::new()
        } else {
            line
        }
    }
}

/// Removes a user's SCRAM keys straight in the test host's SQLite database, as for a
/// user created before SCRAM was there.
pub async fn forget_scram_keys(db: &std::path::Path, address: &str) {
    let script = format!(
        "import sqlite3\nc = sqlite3.connect({db:?})\nc.execute(\"UPDATE users SET scram_sha256 = NULL WHERE address = ?\", ({address:?},))\nc.commit()\n",
        db = db.display().to_string(),
    );
    crate::python(&script).await;
}
