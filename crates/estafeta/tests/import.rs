//! Moving users in from Dovecot: `estafeta import passwd-file` takes a passwd-file whose
//! hashes come from other implementations (Python's crypt for SHA-512/256-crypt, the
//! classic bcrypt test vector, argon2id at another cost); each user then logs in over
//! IMAP with the old password, after which the store holds argon2id and SCRAM keys.

mod common;

use std::process::Command;

use common::{Env, Server, loopback_config};

/// SHA-crypt hashes made by an implementation other than ours (glibc's, through Python).
fn crypt(password: &str, salt: &str) -> String {
    let out = Command::new("/usr/bin/python3")
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt, sys; print(crypt.crypt(sys.argv[1], sys.argv[2]))",
            password,
            salt,
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

fn argon2id_other_cost(password: &str) -> String {
    use argon2::password_hash::PasswordHasher;
    let params = argon2::Params::new(8192, 3, 1, None).expect("params");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes())
        .expect("hash")
        .to_string()
}

#[test]
fn dovecot_users_log_in_with_their_old_passwords_and_get_argon2id() {
    let env = Env::new();
    let config = env.write_config(&format!(
        "{}[auth]\nallow_plaintext_on_loopback = true\n",
        loopback_config()
    ));
    let c = config.to_str().expect("utf-8");
    env.ok(&["-c", c, "domain", "add", "example.com"], "");
    let sha512 = crypt("bob pass", "$6$saltsalt$");
    let sha256 = crypt("carol pass", "$5$rounds=10000$saltsalt$");
    assert!(sha512.starts_with("$6$saltsalt$") && sha256.starts_with("$5$rounds=10000$"));
    let passwd = format!(
        "# moved from dovecot\n\
         bob:{{SHA512-CRYPT}}{sha512}:1000:1000::/home/bob::\n\
         carol@example.com:{{SHA256-CRYPT}}{sha256}:1001:1001::/home/carol\n\
         dave:{{BLF-CRYPT}}$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW:1002:1002\n\
         erin:{{ARGON2ID}}{}:1003:1003\n\
         frank:{{PLAIN}}frank pass:1004:1004::/home/frank::userdb_quota_rule=*:storage=10M\n\
         gina:{{SSHA512}}c2VjcmV0:1005:1005\n\
         hal:{{BLF-CRYPT}}$2y$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW:1006\n",
        argon2id_other_cost("erin pass")
    );
    let file = env.dir.path().join("passwd");
    std::fs::write(&file, passwd).expect("write");
    let f = file.to_str().expect("utf-8");
    let out = env.run(
        &[
            "-c",
            c,
            "import",
            "passwd-file",
            f,
            "--domain",
            "example.com",
        ],
        "",
    );
    let said = String::from_utf8_lossy(&out.stdout);
    let errors = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "two lines refused: {said} {errors}"
    );
    for user in ["bob", "carol", "dave", "erin", "frank"] {
        assert!(
            said.contains(&format!("imported {user}@example.com")),
            "{said}"
        );
    }
    assert!(
        said.contains("5 imported, 0 already there, 2 refused"),
        "{said}"
    );
    assert!(
        errors.contains(":7: gina@example.com: scheme {SSHA512} is not supported"),
        "{errors}"
    );
    assert!(
        errors.contains(":8: the password hash of hal@example.com is not one estafeta can check"),
        "a bcrypt cost of 31 is refused: {errors}"
    );
    // a re-run changes nothing
    let again = env.run(
        &[
            "-c",
            c,
            "import",
            "passwd-file",
            f,
            "--domain",
            "example.com",
        ],
        "",
    );
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("0 imported, 5 already there, 2 refused")
    );

    let server = Server::start(&env, &config);
    let imap = server.address("imap");
    let script = format!(
        r#"
import imaplib, sys
def login(user, password):
    c = imaplib.IMAP4("{ip}", {port})
    try:
        c.login(user, password)
        c.logout()
        return True
    except imaplib.IMAP4.error:
        return False
users = [("bob", "bob pass"), ("carol", "carol pass"), ("dave", "U*U"), ("erin", "erin pass"), ("frank", "frank pass")]
for user, password in users:
    address = user + "@example.com"
    if login(address, password + "x"):
        sys.exit(address + ": a wrong password was taken")
    if not login(address, password):
        sys.exit(address + ": the old password was refused")
    if not login(address, password):
        sys.exit(address + ": refused after the hash was replaced")
"#,
        ip = imap.ip(),
        port = imap.port()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server);

    let db = rusqlite::Connection::open(env.data_dir().join("estafeta.db")).expect("db");
    let mut rows = db
        .prepare(
            "SELECT address, password_hash, scram_sha256, quota_bytes FROM users ORDER BY address",
        )
        .expect("query");
    let users: Vec<(String, String, Option<String>, i64)> = rows
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(users.len(), 5);
    for (address, hash, scram, quota) in &users {
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{address}: {hash}"
        );
        assert!(scram.is_some(), "{address}: SCRAM keys after the login");
        let want = if address.starts_with("frank") {
            10 << 20
        } else {
            0
        };
        assert_eq!(*quota, want, "{address}");
    }
}
