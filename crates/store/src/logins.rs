//! What a login needs from the directory, for `estafeta_net::login` (SMTP AUTH, IMAP and
//! POP3 logins): the store (as `dyn Store`, what the servers hold) is net's [`Accounts`],
//! so the protocols log in through one function without `net` knowing the store.

use async_trait::async_trait;
use estafeta_net::login::{Accounts, ScramLookup};
use estafeta_net::scram::Secrets;

use crate::api::{Directory, Store};
use crate::error::StoreError;
use crate::model::{ScramDecoy, ScramKeys, ScramSecrets, User};

#[async_trait]
impl Accounts for dyn Store + '_ {
    type User = User;
    type Error = StoreError;

    async fn authenticate(&self, name: &str, password: &str) -> Result<Option<User>, StoreError> {
        Directory::authenticate(self, name, password).await
    }

    async fn scram_secrets(&self, name: &str) -> Result<ScramLookup<User>, StoreError> {
        let secrets = |k: ScramKeys| Secrets {
            iterations: k.iterations,
            salt: k.salt,
            stored_key: k.stored_key,
            server_key: k.server_key,
        };
        Ok(match Directory::scram_secrets(self, name).await? {
            ScramSecrets::Stored { user, keys } => ScramLookup::Stored {
                user,
                secrets: secrets(keys),
            },
            ScramSecrets::Decoy { keys, why } => ScramLookup::Decoy {
                secrets: secrets(keys),
                why: match why {
                    ScramDecoy::UnknownUser => "unknown user",
                    ScramDecoy::NoKeys => "no SCRAM keys yet",
                },
            },
        })
    }
}
