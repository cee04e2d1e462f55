//! Cookie-less visitor ids: HMAC-SHA256 of (website, IP, user agent) under a random salt that
//! rotates every UTC day and is deleted after 48 hours, so a visitor can't be followed across
//! days and raw IPs are never stored. Ids a site sets itself are hashed under a per-install key.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use chrono::{Duration, NaiveDate, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::server::store::{AccountStore, StoreError};

type HmacSha256 = Hmac<Sha256>;

const SALT_PREFIX: &str = "visitor_salt:";
const INSTALL_KEY: &str = "visitor_key";

pub struct VisitorHasher {
    accounts: Arc<dyn AccountStore>,
    /// Today's salt, cached; the store is asked once per day.
    today: Mutex<Option<(NaiveDate, [u8; 32])>>,
    /// Serialises salt creation so two requests at midnight agree on one salt.
    rotate: tokio::sync::Mutex<()>,
    install_key: [u8; 32],
}

fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rng().fill_bytes(&mut k);
    k
}

fn decode_key(hex_str: &str) -> Option<[u8; 32]> {
    hex::decode(hex_str).ok()?.try_into().ok()
}

async fn stored_key(accounts: &dyn AccountStore, key: &str) -> Result<[u8; 32], StoreError> {
    if let Some(k) = accounts.setting(key).await?.as_deref().and_then(decode_key) {
        return Ok(k);
    }
    // insert-if-absent: processes starting at once on one store keep the same key
    let stored = accounts.setting_or_insert(key, &hex::encode(random_key())).await?;
    decode_key(&stored).ok_or_else(|| StoreError::Task(format!("setting {key} holds no 32-byte hex key")))
}

impl VisitorHasher {
    pub async fn new(accounts: Arc<dyn AccountStore>) -> Result<Self, StoreError> {
        let install_key = stored_key(accounts.as_ref(), INSTALL_KEY).await?;
        Ok(Self { accounts, today: Mutex::new(None), rotate: tokio::sync::Mutex::new(()), install_key })
    }

    async fn salt(&self) -> Result<[u8; 32], StoreError> {
        let today = Utc::now().date_naive();
        if let Ok(g) = self.today.lock()
            && let Some((d, s)) = *g
            && d == today
        {
            return Ok(s);
        }
        let _one_at_a_time = self.rotate.lock().await;
        let salt = stored_key(self.accounts.as_ref(), &format!("{SALT_PREFIX}{today}")).await?;
        // salts of the day before yesterday and older are forgotten
        let keep_from = today - Duration::days(1);
        self.accounts.delete_settings_before(SALT_PREFIX, &format!("{SALT_PREFIX}{keep_from}")).await?;
        if let Ok(mut g) = self.today.lock() {
            *g = Some((today, salt));
        }
        Ok(salt)
    }

    /// The anonymous visitor id for a request without a site-set id.
    pub async fn derive(&self, website_id: &str, ip: IpAddr, user_agent: &str) -> Result<String, StoreError> {
        let salt = self.salt().await?;
        Ok(digest(&salt, &[website_id.as_bytes(), ip.to_string().as_bytes(), user_agent.as_bytes()]))
    }

    /// A site-set id, hashed so stored ids never equal what the site sent.
    pub fn hash_given(&self, website_id: &str, given: &str) -> String {
        digest(&self.install_key, &[website_id.as_bytes(), given.as_bytes()])
    }
}

fn digest(key: &[u8; 32], parts: &[&[u8]]) -> String {
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    };
    for p in parts {
        mac.update(&(p.len() as u64).to_le_bytes());
        mac.update(p);
    }
    hex::encode(&mac.finalize().into_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_depends_on_every_part_and_the_key() {
        let k1 = [1u8; 32];
        let k2 = [2u8; 32];
        let a = digest(&k1, &[b"site", b"1.2.3.4", b"ua"]);
        assert_eq!(a.len(), 32);
        assert_eq!(a, digest(&k1, &[b"site", b"1.2.3.4", b"ua"]));
        assert_ne!(a, digest(&k2, &[b"site", b"1.2.3.4", b"ua"]));
        assert_ne!(a, digest(&k1, &[b"site", b"1.2.3.5", b"ua"]));
        // length-prefixing keeps ("ab","c") and ("a","bc") apart
        assert_ne!(digest(&k1, &[b"ab", b"c"]), digest(&k1, &[b"a", b"bc"]));
    }
}
