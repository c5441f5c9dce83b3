//! An Apple configuration profile (`.mobileconfig`) that sets up one mail account on iOS
//! and macOS: one `com.apple.mail.managed` payload with the best IMAP port and the best
//! submission port. No password is in it (the device asks), and it is not signed (the
//! device shows it as unverified). Its identifiers are derived from the server and the
//! address, so installing it again replaces the account instead of adding a second one.

use sha2::{Digest, Sha256};

use crate::clients::{ClientSettings, Endpoint};
use crate::html::escape;

/// The profile for `address`; `None` when the server offers no IMAP or no submission
/// port over TLS.
pub fn profile(address: &str, clients: &ClientSettings) -> Option<String> {
    let imap = clients.imap.first()?;
    let smtp = clients.submission.first()?;
    let host = escape(&clients.hostname);
    let a = escape(address);
    let reversed: Vec<&str> = clients.hostname.rsplit('.').collect();
    let id = escape(&format!("{}.estafeta.mail", reversed.join(".")));
    let account_uuid = uuid(&clients.hostname, address, "account");
    let profile_uuid = uuid(&clients.hostname, address, "profile");
    let server = |prefix: &str, e: &Endpoint| {
        format!(
            "      <key>{prefix}MailServerAuthentication</key><string>EmailAuthPassword</string>\n\
             \x20     <key>{prefix}MailServerHostName</key><string>{host}</string>\n\
             \x20     <key>{prefix}MailServerPortNumber</key><integer>{}</integer>\n\
             \x20     <key>{prefix}MailServerUseSSL</key><true/>\n\
             \x20     <key>{prefix}MailServerUsername</key><string>{a}</string>\n",
            e.port
        )
    };
    Some(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n\
         <dict>\n\
         \x20 <key>PayloadContent</key>\n\
         \x20 <array>\n\
         \x20   <dict>\n\
         \x20     <key>EmailAccountDescription</key><string>{a}</string>\n\
         \x20     <key>EmailAccountType</key><string>EmailTypeIMAP</string>\n\
         \x20     <key>EmailAddress</key><string>{a}</string>\n\
         {incoming}\
         {outgoing}\
         \x20     <key>OutgoingPasswordSameAsIncomingPassword</key><true/>\n\
         \x20     <key>PayloadDescription</key><string>Mail account {a}</string>\n\
         \x20     <key>PayloadDisplayName</key><string>{a}</string>\n\
         \x20     <key>PayloadIdentifier</key><string>{id}.account.{account_uuid}</string>\n\
         \x20     <key>PayloadType</key><string>com.apple.mail.managed</string>\n\
         \x20     <key>PayloadUUID</key><string>{account_uuid}</string>\n\
         \x20     <key>PayloadVersion</key><integer>1</integer>\n\
         \x20   </dict>\n\
         \x20 </array>\n\
         \x20 <key>PayloadDescription</key><string>Sets up the mail account {a} on {host}</string>\n\
         \x20 <key>PayloadDisplayName</key><string>Mail: {a}</string>\n\
         \x20 <key>PayloadIdentifier</key><string>{id}.{profile_uuid}</string>\n\
         \x20 <key>PayloadRemovalDisallowed</key><false/>\n\
         \x20 <key>PayloadType</key><string>Configuration</string>\n\
         \x20 <key>PayloadUUID</key><string>{profile_uuid}</string>\n\
         \x20 <key>PayloadVersion</key><integer>1</integer>\n\
         </dict>\n\
         </plist>\n",
        incoming = server("Incoming", imap),
        outgoing = server("Outgoing", smtp),
    ))
}

/// A UUID (version 8, RFC 9562: made from a hash) that is the same for the same inputs.
fn uuid(hostname: &str, address: &str, what: &str) -> String {
    let hash = Sha256::digest(format!("{hostname}\n{address}\n{what}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&hash[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode_upper(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_are_stable_and_well_formed() {
        let a = super::uuid("mail.example.test", "ana@example.test", "account");
        assert_eq!(
            a,
            super::uuid("mail.example.test", "ana@example.test", "account")
        );
        assert_ne!(
            a,
            super::uuid("mail.example.test", "bob@example.test", "account")
        );
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8", "version 8: {a}");
    }
}
