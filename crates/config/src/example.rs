//! The fully commented example printed by `estafeta config example`.
//! A test checks that it parses and that it states the defaults.

pub const EXAMPLE: &str = r#"# estafeta configuration. Every key is optional: without this file estafeta runs with
# the values shown here. Reference: docs/configuration.md.

# Name this server gives itself in SMTP greetings and Received: headers.
# Default: the system's host name.
# hostname = "mail.example.com"

# Directory for the database, the TLS certificate and other state. Created if missing.
# Overridden by --data-dir or the ESTAFETA_DATA_DIR environment variable.
data_dir = "./estafeta-data"

# Started as root, serve becomes this user once its ports are bound and its keys read
# (the data directory is given to it). Default: the "estafeta" user, when there is one.
# run_as = "estafeta"

[storage]
# "sqlite": embedded, one file under data_dir (the default).
# "postgres": a PostgreSQL server, shareable by several estafeta nodes.
engine = "sqlite"
# Required with engine = "postgres":
# url = "postgres://estafeta@127.0.0.1:5432/estafeta"
# Largest number of database connections this process opens.
max_connections = 16

[tls]
# PEM files presented on every TLS listener and after STARTTLS. When both are unset, a
# self-signed certificate for `hostname` is generated on first start and kept in
# data_dir/tls/. Set both or neither.
# certificate = "/etc/letsencrypt/live/mail.example.com/fullchain.pem"
# private_key = "/etc/letsencrypt/live/mail.example.com/privkey.pem"
#
# Or automatic certificates (ACME, RFC 8555) from Let's Encrypt or another ACME CA,
# obtained at start and renewed without a restart (instead of certificate/private_key).
# The certificate names hostname, autoconfig.<domain> and mta-sts.<domain> for each
# domain, and acme_names; files in data_dir/tls/acme/.
acme = false
# The account's contact address; required with acme = true.
# acme_contact = "mailto:postmaster@example.com"
# Let's Encrypt's staging directory, for trying: https://acme-staging-v02.api.letsencrypt.org/directory
acme_directory = "https://acme-v02.api.letsencrypt.org/directory"
# "tls-alpn-01": the CA connects to port 443 (an "https" listener is needed);
# "http-01": the CA fetches http://<name>/.well-known/acme-challenge/ (an "http" listener on 80).
acme_challenge = "tls-alpn-01"
# More names for the certificate; each must resolve to this server.
acme_names = []
# A root (PEM) the directory's HTTPS certificate must chain to, for a private CA.
# acme_ca_certificate = "/etc/estafeta/acme-ca.pem"
# Renew when fewer days than this are left.
acme_renew_days = 30
# Seconds between two checks of the certificate (12 hours); lower only for tests.
acme_check_interval = 43200

[auth]
# Accept passwords over unencrypted connections from loopback addresses (127.0.0.0/8, ::1).
# Elsewhere a password is only accepted once TLS is up.
allow_plaintext_on_loopback = false
# Failed logins (SMTP AUTH, IMAP, POP3 together) of one user name from one client
# address before that pair is blocked for block_time seconds, and from one client
# address whatever the user names before the address is; a successful login clears only
# its own user name's count. Each failure is answered after failure_delay_ms times the
# failures of that user name so far. (These were smtp.auth_max_failures, …,
# smtp.auth_block_time: the old names still work, with a warning at start.)
max_failures = 5
max_failures_per_address = 20
failure_delay_ms = 1000
block_time = 300

[log]
# Tracing filter: "info", "debug", "estafeta_store=debug,info" ...
# The ESTAFETA_LOG environment variable overrides it.
level = "info"

[smtp]
# Largest message accepted, in bytes (25 MiB), announced in EHLO SIZE.
max_message_size = 26214400
# Most recipients in one transaction; more get "452 4.5.3".
max_recipients = 100
# Seconds a client may stay silent before "421 4.4.2" and disconnect.
idle_timeout = 300
# Seconds in which a whole command line must arrive, and a whole message (after DATA)
# or BDAT chunk, however slowly the client sends it; then "421 4.4.2" and disconnect.
command_timeout = 300
data_timeout = 600
# Error replies in one session before "421 4.7.0" and disconnect.
max_errors = 20
# Most Received: header fields a message may have, this server's own included (a mail
# loop otherwise): more gets "554 5.4.6 Too many hops", and delivery will not send it.
max_hops = 50
# Simultaneous SMTP connections, in total and from one IP address.
max_connections = 1000
max_connections_per_ip = 20
# Networks allowed to relay to other domains without authentication (like Postfix's
# mynetworks). Everyone else must authenticate to relay. [] trusts nobody.
trusted_networks = ["127.0.0.0/8", "::1/128"]
# IPv6 clients count by this prefix (their /64) for the login throttle ([auth]) and the
# command budgets below; IPv4 clients each count on their own.
ipv6_prefix = 64
# Commands per minute from one client address, over all its sessions, before it has
# authenticated; then "421 4.7.0 ... too many commands". trusted_networks are exempt.
# 0: no limit.
unauthenticated_commands_per_minute = 3000

# Name the authenticated user in the Received: header (privacy: off by default).
received_show_auth_user = false
# Sending rate limits, off (0) by default: messages and recipients per authenticated
# user, and per sender domain of ours, within rate_limit_window seconds. Over a limit,
# MAIL or RCPT gets "451 4.7.0 rate limit exceeded, try again later".
user_messages_per_hour = 0
user_recipients_per_hour = 0
domain_messages_per_hour = 0
domain_recipients_per_hour = 0
rate_limit_window = 3600

[imap]
# Simultaneous IMAP connections, in total and from one IP address; over the limit a
# client is greeted with "* BYE [UNAVAILABLE]".
max_connections = 20000
max_connections_per_ip = 200
# Seconds a command may take to arrive, counted from its first octet (a literal gets as
# much again, plus a second per 8 KiB it holds). A client that is slower, say one
# sending an octet now and then to keep the connection, gets "* BYE" and is
# disconnected. Waiting between commands is not counted (that is 30 minutes).
command_timeout = 60
# BAD replies (syntax errors, commands of the wrong state, refused literals) in one
# session before "* BYE Too many invalid commands" and disconnect.
max_bad_commands = 20
# Commands per minute from one client address, over all its sessions, before login;
# then "* BYE [UNAVAILABLE] too many commands". 0: no limit.
unauthenticated_commands_per_minute = 1000
# SEARCH TEXT and BODY ask the search index which messages may hold the string and look
# only through those (the answer is the same); false: look through every message.
search_index = true

[pop3]
# Simultaneous POP3 connections, in total and from one IP address; over the limit a
# client is greeted with "-ERR [SYS/TEMP]".
max_connections = 1000
max_connections_per_ip = 50
# Seconds a command line may take to arrive, counted from its first octet; a slower
# client is disconnected with "-ERR". Waiting between commands is not counted (that is
# 10 minutes).
command_timeout = 60
# -ERR replies (unknown commands, syntax errors, failed logins, ...) in one session
# before "-ERR too many errors, closing" and disconnect.
max_errors = 20
# Commands per minute from one client address, over all its sessions, before login;
# then "-ERR [SYS/TEMP] too many commands" and disconnect. 0: no limit.
unauthenticated_commands_per_minute = 1000

[delivery]
# Outbound SMTP connections open at once: in total, to one destination (a domain, or a
# relay), and messages sent over one connection (RSET between them) before it closes.
max_connections = 100
max_connections_per_destination = 20
max_messages_per_connection = 100
# Seconds a connection with no message waiting stays open for its destination's next
# one (an idle one gives its slot up when another destination waits); 0: closed at once.
connection_cache_time = 2
# Seconds to wait after the 1st, 2nd, ... failed attempt (4xx, refused or dropped
# connection, timeout); the last value repeats: 5m 10m 20m 40m 1h 2h 4h, then every 4h.
retry_schedule = [300, 600, 1200, 2400, 3600, 7200, 14400]
# Seconds a message may wait in the queue (5 days); then it is bounced to its sender.
max_queue_time = 432000
# Seconds after which a recipient that asked for NOTIFY=DELAY gets a "delayed" report,
# once (4 hours); 0 never sends one.
delay_warning = 14400
# Seconds a host that refused or dropped a connection is skipped, for every message.
host_retry_after = 300
# Seconds a delivery worker holds a recipient before another node may take it over
# (renewed while the worker runs); a node that dies releases its work after this.
lease_time = 300
# Seconds between scans for work nothing announced (CLI changes on SQLite, dead nodes).
scan_interval = 30
# Seconds to wait for a TCP connection to a host.
connect_timeout = 30
# Port MX hosts are contacted on (tests use another).
mx_port = 25
# Port MTA-STS policies are fetched from over HTTPS (tests use another).
https_port = 443
# DNS servers for MX and address lookups, e.g. ["127.0.0.1:5353"]; [] uses /etc/resolv.conf.
dns_servers = []

# Relay every message through one server (except domains with their own route):
# [delivery.smarthost]
# host = "smtp.provider.example"
# port = 587                   # default: 465 with tls = "implicit", else 587
# tls = "starttls"             # "starttls" (required), "implicit", "opportunistic", "none"
# username = "me@example.com"
# password_file = "/etc/estafeta/smarthost.password"   # or password = "..."
# auth_mechanism = "plain"     # or "login"; default: PLAIN, LOGIN if only that is offered
# The relay's certificate is checked against the system's roots (chain and host name):
# ca_file = "/etc/estafeta/relay-ca.pem"   # check against these authorities instead
# tls_verify = false                       # do not check it (warned at start: the password
#                                          # would go to whoever answers at host)

# A relay for one recipient domain, tried before the smarthost and MX (same keys, plus
# domain; defaults: port 25, tls = "opportunistic"):
# [[delivery.route]]
# domain = "partner.example"
# host = "10.1.2.3"

[trust]
# Check mail from outside (port 25, not logged in, not from trusted_networks): SPF of
# the HELO name and MAIL FROM, DKIM signatures, the ARC chain and DMARC, with the results
# in one Authentication-Results: field named after hostname.
checks = true
# An SPF "fail" for MAIL FROM: "reject" (550 5.7.23 at RCPT), "tag" (only recorded),
# or "ignore" (SPF not looked up).
spf_fail = "tag"
# A DMARC failure: "enforce" applies the sender domain's policy (p=reject: 550 5.7.1 at
# the end of DATA; p=quarantine: into the recipient's Junk folder) and refuses mail that
# claims one of our domains in From: and fails DMARC; "tag" only records the result.
dmarc = "enforce"
# Seconds the checks of one message may take; past it they count as temporary errors
# (451 4.7.5 where a failure would be refused), never as a pass.
timeout = 20
# Apply recipient domains' MTA-STS policies (RFC 8461) when delivering: under "enforce",
# mail goes only to an MX the policy names, over TLS with a valid certificate, or waits.
mta_sts = true
# Authorities (PEM) that MTA-STS policy hosts and MX certificates under a policy must
# chain to, instead of the system's roots:
# ca_file = "/etc/estafeta/sts-ca.pem"
# Apply the DANE TLSA records (RFC 7672) of MX hosts whose domain's MX records are
# DNSSEC-signed (validated by estafeta itself from the IANA root keys).
dane = true
# A file of DNSKEY records to validate DNSSEC from instead of the root keys:
# dnssec_trust_anchor = "/etc/estafeta/trust-anchor.txt"
# Send daily TLS reports (RFC 8460) of our outbound TLS sessions to the recipient domains
# that publish an _smtp._tls TXT record asking for them.
tls_reports = true
# Send daily DMARC aggregate reports (RFC 7489) of the mail from outside we checked to
# the From: domains whose DMARC record asks for them (rua=).
dmarc_reports = false
# Seconds one report covers: a UTC day. Only tests use less.
report_period = 86400
# Another policy for mail to one of our domains:
# [[trust.domain]]
# name = "example.com"
# spf_fail = "reject"
# dmarc = "tag"

# What http/https listeners serve besides the set-up documents for mail apps (none of
# them is in the default table below: add e.g. port 80 protocol "http" tls "none" and
# port 443 protocol "https" tls "implicit").
[web]
# client networks that may read /metrics (Prometheus)
metrics_networks = ["127.0.0.0/8", "::1/128"]
# the MTA-STS policy of our domains: "testing", "enforce" or "none"; seconds it is kept
mta_sts_mode = "testing"
mta_sts_max_age = 604800
# seconds a sign-in on the account and admin pages lasts
session_lifetime = 28800
# the address open and click tracking links name (tracking is switched on per domain:
# estafeta domain tracking example.com on); unset: https://<hostname> of the first https
# listener, else http:// of the first http one
# public_url = "https://mail.example.com"

# Which local Unix users may hand mail to the server with `sendmail` (any envelope
# sender): user names, or "*" for everyone on the machine; root always may.
[sendmail]
allowed_users = ["*"]

# What `estafeta doctor` checks against.
[doctor]
# The addresses the world reaches this server at (MX, SPF, PTR, blocklists); [] takes
# the listeners' addresses that are neither wildcard nor loopback, else hostname's A/AAAA.
public_addresses = []
# DNS blocklists our public addresses are looked up on (through delivery.dns_servers).
blocklists = ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"]

# Users' filters run at delivery (Sieve), managed over ManageSieve (port 4190).
[sieve]
# Run the users' active scripts (and before/after) at delivery.
enabled = true
# Largest script, in octets; scripts per user; octets of scripts per user in all.
max_script_size = 262144
max_scripts = 20
max_storage = 1048576
# Actions and redirects one run may take; beyond, the message is kept and the error shown.
max_actions = 32
max_redirects = 4
# Script files run for every local recipient before and after their own (unset: none):
# before = "/etc/estafeta/before.sieve"
# after = "/etc/estafeta/after.sieve"
# Where include :global "name" finds name.sieve (unset: global includes are not found):
# global_dir = "/etc/estafeta/sieve"
# Simultaneous ManageSieve connections, in total and from one IP address.
max_connections = 100
max_connections_per_ip = 10

# The listener table. Writing any [[listener]] replaces this whole default table.
# protocol: "smtp" (mail from other servers), "submission" (mail from clients, AUTH
#           required), "imap", "pop3", "managesieve" (Sieve scripts, RFC 5804),
#           "http", "https" (the web side: http takes tls "none", https takes
#           "implicit").
# tls: "starttls" (plaintext, then STARTTLS/STLS), "implicit" (TLS from the first byte),
#      "none" (no TLS offered).
# address: an IP address; "0.0.0.0" is every IPv4 address, "::" every IPv6 address.
# port: 0 lets the system pick a free port.
# proxy_protocol = true: every connection starts with a PROXY protocol header (v1 or v2,
#   as HAProxy's send-proxy / send-proxy-v2 sends) naming the real client, which then
#   drives relay policy, limits, throttles, logs and Received:. proxy_trusted lists the
#   proxies' networks (required then); any other client is refused.

[[listener]]
address = "0.0.0.0"
port = 25
protocol = "smtp"
tls = "starttls"

[[listener]]
address = "0.0.0.0"
port = 587
protocol = "submission"
tls = "starttls"

[[listener]]
address = "0.0.0.0"
port = 465
protocol = "submission"
tls = "implicit"

[[listener]]
address = "0.0.0.0"
port = 2525
protocol = "submission"
tls = "starttls"

[[listener]]
address = "0.0.0.0"
port = 143
protocol = "imap"
tls = "starttls"

[[listener]]
address = "0.0.0.0"
port = 993
protocol = "imap"
tls = "implicit"

[[listener]]
address = "0.0.0.0"
port = 110
protocol = "pop3"
tls = "starttls"

[[listener]]
address = "0.0.0.0"
port = 995
protocol = "pop3"
tls = "implicit"

[[listener]]
address = "0.0.0.0"
port = 4190
protocol = "managesieve"
tls = "starttls"
"#;
