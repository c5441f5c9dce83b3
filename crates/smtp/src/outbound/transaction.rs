//! One mail transaction on an open session: the refusals made before sending (SIZE over
//! the server's limit, UTF-8 addresses without SMTPUTF8), RSET after an earlier
//! transaction, MAIL and every RCPT (in one write with PIPELINING), then the message by
//! BDAT or DATA — or RSET when no recipient was accepted — and a final reply per recipient.

use tracing::Instrument;

use super::body;
use super::client::SmtpClient;
use super::error::{Error, Stage};
use super::message::{self, MailParams, OutboundMessage};
use super::outcome::{RcptOutcome, RcptStatus, TransactionOutcome, Transfer};
use super::reply::Reply;

/// Message data goes out in blocks of this size, each with the data-block timeout.
const BLOCK: usize = 64 * 1024;

impl SmtpClient {
    /// Sends one message to all its recipients in one transaction. `Ok` holds a final
    /// reply per recipient; `Err` is a connection-level failure (timeout, dropped
    /// connection, garbage), after which no recipient is known to have the message:
    /// all are to be retried, and this client is no longer usable.
    pub async fn send(&mut self, msg: &OutboundMessage<'_>) -> Result<TransactionOutcome, Error> {
        self.send_when(msg, std::future::ready(())).await
    }

    /// [`SmtpClient::send`], with the message itself (DATA or BDAT) sent only once `ready`
    /// is done: delivery passes the durability of the previous message's outcome, so that
    /// a crash can make the remote server receive at most one message twice per
    /// connection (the one whose outcome was not yet written), while this message's
    /// MAIL and RCPT already overlap that write.
    pub async fn send_when(
        &mut self,
        msg: &OutboundMessage<'_>,
        ready: impl std::future::Future<Output = ()>,
    ) -> Result<TransactionOutcome, Error> {
        if self.broken {
            return Err(Error::Unusable);
        }
        let span = self.span();
        let result = self.transaction(msg, ready).instrument(span.clone()).await;
        match &result {
            Ok(outcome) => span.in_scope(|| log_outcome(outcome)),
            Err(e) => {
                self.broken = true;
                tracing::info!(parent: &span, error = %e, "transaction failed: every recipient deferred");
            }
        }
        result
    }

    async fn transaction(
        &mut self,
        msg: &OutboundMessage<'_>,
        ready: impl std::future::Future<Output = ()>,
    ) -> Result<TransactionOutcome, Error> {
        let ext = self.info.extensions.clone();
        let t = self.timeouts;
        let body = body::normalize_line_endings(msg.body);
        let size = body.len();
        let mut finals: Vec<Option<Reply>> = vec![None; msg.recipients.len()];
        let outcome = |finals: Vec<Option<Reply>>, transfer, data_reply| {
            finish(msg, finals, ext.dsn, transfer, data_reply, size)
        };

        if ext.size && ext.max_size > 0 && size as u64 > ext.max_size {
            let reply = Reply::local(
                552,
                [5, 3, 4],
                format!(
                    "message of {size} octets is over the size limit of {} ({} octets); not sent",
                    display_name(&ext.hostname),
                    ext.max_size
                ),
            );
            return Ok(outcome(
                vec![Some(reply); finals.len()],
                Transfer::NotSent,
                None,
            ));
        }
        let utf8_envelope =
            !msg.from.is_ascii() || msg.recipients.iter().any(|r| !r.address.is_ascii());
        if utf8_envelope && !ext.smtputf8 {
            let refusal = |whose: &str| {
                Reply::local(
                    553,
                    [5, 6, 7],
                    format!(
                        "{whose} address is UTF-8 and {} does not support SMTPUTF8 (RFC 6531); not sent",
                        display_name(&ext.hostname)
                    ),
                )
            };
            if !msg.from.is_ascii() {
                let reply = refusal("the sender");
                return Ok(outcome(
                    vec![Some(reply); finals.len()],
                    Transfer::NotSent,
                    None,
                ));
            }
            for (rcpt, fin) in msg.recipients.iter().zip(finals.iter_mut()) {
                if !rcpt.address.is_ascii() {
                    *fin = Some(refusal("the recipient"));
                }
            }
        }
        let sending: Vec<usize> = (0..finals.len()).filter(|&i| finals[i].is_none()).collect();
        if sending.is_empty() {
            return Ok(outcome(finals, Transfer::NotSent, None));
        }

        let eight_bit = body::has_8bit(&body);
        if eight_bit && !ext.eight_bit_mime {
            // no conversion to 7 bit: sent as it is, as most MTAs do
            tracing::info!("8-bit message to a server without 8BITMIME: sent unchanged");
        }
        let mail = message::mail_command(
            msg,
            &MailParams {
                size: ext.size.then_some(size),
                eight_bit: ext.eight_bit_mime && eight_bit,
                smtputf8: ext.smtputf8 && (msg.smtputf8 || utf8_envelope),
                dsn: ext.dsn,
            },
        );
        let rcpts: Vec<String> = sending
            .iter()
            .map(|&i| message::rcpt_command(&msg.recipients[i], ext.dsn))
            .collect();

        // MAIL and RCPT: one write with PIPELINING (RFC 2920), else one by one
        let pipelined = self.pipelining && ext.pipelining;
        let mut rcpt_replies = Vec::with_capacity(rcpts.len());
        let mail_reply = if pipelined {
            let mut batch = String::new();
            if self.needs_rset {
                batch.push_str("RSET\r\n");
            }
            batch.push_str(&mail);
            rcpts.iter().for_each(|r| batch.push_str(r));
            tracing::debug!(commands = 1 + rcpts.len(), "send pipelined MAIL and RCPT");
            self.conn
                .write(batch.as_bytes(), t.mail, Stage::Mail)
                .await?;
            if self.needs_rset {
                self.rset_reply().await?;
            }
            let mail_reply = self.conn.read_reply(t.mail, Stage::Mail).await?;
            for _ in &rcpts {
                rcpt_replies.push(self.conn.read_reply(t.rcpt, Stage::Rcpt).await?);
            }
            mail_reply
        } else {
            if self.needs_rset {
                self.conn.write(b"RSET\r\n", t.command, Stage::Rset).await?;
                self.rset_reply().await?;
            }
            let mail_reply = self.exchange(&mail, Stage::Mail, t.mail).await?;
            if mail_reply.is_positive() {
                for r in &rcpts {
                    rcpt_replies.push(self.exchange(r, Stage::Rcpt, t.rcpt).await?);
                }
            }
            mail_reply
        };
        self.needs_rset = true;
        if !mail_reply.is_positive() {
            tracing::info!(reply = %mail_reply, "MAIL refused");
            for &i in &sending {
                finals[i] = Some(mail_reply.clone());
            }
            return Ok(outcome(finals, Transfer::NotSent, None));
        }
        let mut accepted = Vec::with_capacity(sending.len());
        for (&i, reply) in sending.iter().zip(rcpt_replies) {
            if reply.is_positive() {
                accepted.push(i);
            } else {
                finals[i] = Some(reply);
            }
        }
        if accepted.is_empty() {
            // no recipient: end the transaction instead of sending the message
            let rset = match self.conn.write(b"RSET\r\n", t.command, Stage::Rset).await {
                Ok(()) => self.rset_reply().await,
                Err(e) => Err(e),
            };
            match rset {
                Ok(()) => self.needs_rset = false,
                Err(e) => {
                    tracing::info!(error = %e, "RSET failed: session closed");
                    self.broken = true;
                }
            }
            return Ok(outcome(finals, Transfer::NotSent, None));
        }

        // the message goes out only once the caller is ready for a new outcome
        ready.await;
        let (transfer, data_reply) = if self.chunking && ext.chunking {
            (Transfer::Bdat, self.bdat(&body).await?)
        } else {
            (Transfer::Data, self.data(&body).await?)
        };
        for &i in &accepted {
            finals[i] = Some(data_reply.clone());
        }
        Ok(outcome(finals, transfer, Some(data_reply)))
    }

    /// DATA, 354, the stuffed message, the reply. A refusal of DATA itself is the reply.
    async fn data(&mut self, body: &[u8]) -> Result<Reply, Error> {
        let t = self.timeouts;
        let go = self.exchange("DATA\r\n", Stage::Data, t.data_init).await?;
        if go.code != 354 {
            if go.is_positive() {
                return Err(Error::Protocol {
                    stage: Stage::Data,
                    detail: format!("{go} instead of 354 to DATA"),
                });
            }
            return Ok(go);
        }
        let stuffed = body::dot_stuff(body);
        self.write_blocks(&stuffed).await?;
        self.conn.read_reply(t.data_end, Stage::DataEnd).await
    }

    /// The whole message as one last chunk (RFC 3030), unstuffed.
    async fn bdat(&mut self, body: &[u8]) -> Result<Reply, Error> {
        let t = self.timeouts;
        let command = format!("BDAT {} LAST\r\n", body.len());
        tracing::debug!(command = command.trim_end(), "send");
        self.conn
            .write(command.as_bytes(), t.data_block, Stage::DataBlock)
            .await?;
        self.write_blocks(body).await?;
        self.conn.read_reply(t.data_end, Stage::DataEnd).await
    }

    async fn write_blocks(&mut self, bytes: &[u8]) -> Result<(), Error> {
        for block in bytes.chunks(BLOCK) {
            self.conn
                .write(block, self.timeouts.data_block, Stage::DataBlock)
                .await?;
        }
        Ok(())
    }

    async fn exchange(
        &mut self,
        line: &str,
        stage: Stage,
        timeout: std::time::Duration,
    ) -> Result<Reply, Error> {
        tracing::debug!(command = line.trim_end(), "send");
        self.conn.write(line.as_bytes(), timeout, stage).await?;
        self.conn.read_reply(timeout, stage).await
    }

    /// The reply to an RSET already sent: 250, or the session cannot go on.
    /// RSET and its reply: whether a session that sat idle is still there before a
    /// message is trusted to it (a server may close an idle session at any time; a
    /// message sent into a closed one would be deferred for nothing). `Err` leaves the
    /// client unusable.
    pub async fn reset(&mut self) -> Result<(), Error> {
        if self.broken {
            return Err(Error::Unusable);
        }
        let t = self.timeouts.command;
        let result = match self.conn.write(b"RSET\r\n", t, Stage::Rset).await {
            Ok(()) => self.rset_reply().await,
            Err(e) => Err(e),
        };
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    async fn rset_reply(&mut self) -> Result<(), Error> {
        let reply = self
            .conn
            .read_reply(self.timeouts.command, Stage::Rset)
            .await?;
        if reply.is_positive() {
            self.needs_rset = false;
            Ok(())
        } else {
            Err(Error::Rejected {
                stage: Stage::Rset,
                reply,
            })
        }
    }
}

fn finish(
    msg: &OutboundMessage<'_>,
    finals: Vec<Option<Reply>>,
    dsn_passed: bool,
    transfer: Transfer,
    data_reply: Option<Reply>,
    size: usize,
) -> TransactionOutcome {
    let recipients = msg
        .recipients
        .iter()
        .zip(finals)
        .map(|(rcpt, reply)| {
            // every recipient has a reply by now; a missing one would be a bug here, and
            // the safe reading of it is "try again"
            let reply = reply.unwrap_or_else(|| {
                Reply::local(451, [4, 3, 0], "internal error: no reply recorded")
            });
            RcptOutcome {
                address: rcpt.address.clone(),
                status: RcptStatus::of(&reply),
                reply,
            }
        })
        .collect();
    TransactionOutcome {
        recipients,
        dsn_passed,
        transfer,
        data_reply,
        size,
    }
}

fn log_outcome(outcome: &TransactionOutcome) {
    for r in &outcome.recipients {
        tracing::info!(
            rcpt = %r.address,
            status = ?r.status,
            reply = %r.reply,
            local = r.reply.local,
            "recipient"
        );
    }
    tracing::info!(
        size = outcome.size,
        transfer = ?outcome.transfer,
        dsn_passed = outcome.dsn_passed,
        delivered = outcome.with(RcptStatus::Delivered).count(),
        deferred = outcome.with(RcptStatus::TemporaryFailure).count(),
        failed = outcome.with(RcptStatus::PermanentFailure).count(),
        "transaction done"
    );
}

fn display_name(hostname: &str) -> String {
    if hostname.is_empty() {
        "the server".to_string()
    } else {
        hostname.to_string()
    }
}
