//! `AccountStore` on ScyllaDB: users (unique emails by a lightweight transaction on
//! `users_by_email`), login sessions and setup links (expiring by TTL), websites,
//! memberships (kept both ways: per website and per user), share links and settings.
//! Account data is small and changes rarely; lists are read whole.

use async_trait::async_trait;
use chrono::Utc;
use futures::TryStreamExt;
use scylla::value::CqlTimestamp;
use scylla::DeserializeRow;

use super::{cql_err, lwt_applied, ScyllaStore};
use crate::model::{MemberRole, Membership, Website};
use crate::server::store::{AccountStore, SessionRow, StoreError, UserRow};

#[derive(DeserializeRow)]
struct UserCols {
    id: i64,
    email: Option<String>,
    password_hash: Option<String>,
    is_admin: Option<bool>,
}

impl From<UserCols> for UserRow {
    fn from(u: UserCols) -> Self {
        UserRow {
            id: u.id,
            email: u.email.unwrap_or_default(),
            password_hash: u.password_hash.unwrap_or_default(),
            is_admin: u.is_admin.unwrap_or(false),
        }
    }
}

#[derive(DeserializeRow)]
struct WebsiteCols {
    id: String,
    domain: Option<String>,
    name: Option<String>,
    owner_id: Option<i64>,
    timezone: Option<String>,
    allowed_hostnames: Option<String>,
    url_params: Option<String>,
}

fn words(s: Option<String>) -> Vec<String> {
    s.unwrap_or_default().split_whitespace().map(str::to_string).collect()
}

impl WebsiteCols {
    fn website(self) -> Website {
        Website {
            id: self.id,
            domain: self.domain.unwrap_or_default(),
            name: self.name.unwrap_or_default(),
            timezone: self.timezone.unwrap_or_else(|| "UTC".into()),
            allowed_hostnames: words(self.allowed_hostnames),
            url_params: words(self.url_params),
        }
    }
}

const USER_COLS: &str = "id, email, password_hash, is_admin";
const WEBSITE_COLS: &str = "id, domain, name, owner_id, timezone, allowed_hostnames, url_params";

/// A TTL (seconds, at least 1) that ends a row at `expires_at_ms`.
fn ttl_until(expires_at_ms: i64) -> i32 {
    ((expires_at_ms - Utc::now().timestamp_millis()) / 1000).clamp(1, i32::MAX as i64) as i32
}

impl ScyllaStore {
    /// Runs a write (idempotent) with no rows expected back.
    async fn exec(&self, cql: &str, values: impl scylla::serialize::row::SerializeRow) -> Result<(), StoreError> {
        self.db.execute_unpaged(self.stmt(cql, true), values).await.map(|_| ()).map_err(cql_err)
    }

    /// All rows of a query, paged by the driver.
    pub(super) async fn all<R>(&self, cql: &str, values: impl scylla::serialize::row::SerializeRow) -> Result<Vec<R>, StoreError>
    where
        R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
    {
        self.db
            .execute_iter(self.stmt(cql, true), values)
            .await
            .map_err(cql_err)?
            .rows_stream::<R>()
            .map_err(cql_err)?
            .try_collect()
            .await
            .map_err(cql_err)
    }

    async fn one<R>(&self, cql: &str, values: impl scylla::serialize::row::SerializeRow) -> Result<Option<R>, StoreError>
    where
        R: for<'f, 'm> scylla::deserialize::row::DeserializeRow<'f, 'm>,
    {
        self.db
            .execute_unpaged(self.stmt(cql, true), values)
            .await
            .map_err(cql_err)?
            .into_rows_result()
            .map_err(cql_err)?
            .maybe_first_row::<R>()
            .map_err(cql_err)
    }

    async fn website_row(&self, id: &str) -> Result<Option<WebsiteCols>, StoreError> {
        if id.is_empty() {
            return Ok(None); // see `user_by_email`
        }
        self.one(&format!("SELECT {WEBSITE_COLS} FROM websites WHERE id = ?"), (id,)).await
    }

    async fn all_websites(&self) -> Result<Vec<WebsiteCols>, StoreError> {
        self.all(&format!("SELECT {WEBSITE_COLS} FROM websites"), ()).await
    }

    async fn member_role(&self, website_id: &str, user_id: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .one::<(Option<String>,)>("SELECT role FROM members WHERE website_id = ? AND user_id = ?", (website_id, user_id))
            .await?
            .map(|(r,)| r.unwrap_or_default()))
    }

    async fn end_sessions_of(&self, user_id: i64) -> Result<(), StoreError> {
        for (id,) in self.all::<(String,)>("SELECT id FROM sessions_by_user WHERE user_id = ?", (user_id,)).await? {
            self.exec("DELETE FROM sessions WHERE id = ?", (&id,)).await?;
        }
        self.exec("DELETE FROM sessions_by_user WHERE user_id = ?", (user_id,)).await
    }

    async fn end_setup_links_of(&self, user_id: i64) -> Result<(), StoreError> {
        for (hash,) in self.all::<(String,)>("SELECT token_hash FROM setup_links_by_user WHERE user_id = ?", (user_id,)).await? {
            self.exec("DELETE FROM setup_links WHERE token_hash = ?", (&hash,)).await?;
        }
        self.exec("DELETE FROM setup_links_by_user WHERE user_id = ?", (user_id,)).await
    }

    /// Stores `value` under `key` unless a value is there already; answers the stored one. Two
    /// processes starting at once agree on one salt or signing secret.
    async fn claim_setting(&self, key: &str, value: &str) -> Result<String, StoreError> {
        let applied = lwt_applied(
            self.db
                .execute_unpaged(self.lwt("INSERT INTO settings (key, value) VALUES (?, ?) IF NOT EXISTS"), (key, value))
                .await
                .map_err(cql_err)?,
        )?;
        if applied {
            return Ok(value.to_string());
        }
        let mut read = self.stmt("SELECT value FROM settings WHERE key = ?", true);
        read.set_consistency(scylla::statement::Consistency::LocalSerial);
        let row = self
            .db
            .execute_unpaged(read, (key,))
            .await
            .map_err(cql_err)?
            .into_rows_result()
            .map_err(cql_err)?
            .maybe_first_row::<(Option<String>,)>()
            .map_err(cql_err)?;
        row.and_then(|(v,)| v).ok_or_else(|| StoreError::Cql(format!("setting {key} vanished while being read")))
    }
}

#[async_trait]
impl AccountStore for ScyllaStore {
    async fn create_user(&self, email: &str, password_hash: &str, is_admin: bool) -> Result<i64, StoreError> {
        // 53 bits: the id stays exact in JavaScript numbers
        let id = (rand::random::<u64>() >> 11) as i64;
        self.exec(
            "INSERT INTO users (id, email, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?, ?)",
            (id, email, password_hash, is_admin, CqlTimestamp(Utc::now().timestamp_millis())),
        )
        .await?;
        let claimed = lwt_applied(
            self.db
                .execute_unpaged(
                    self.lwt("INSERT INTO users_by_email (email, id) VALUES (?, ?) IF NOT EXISTS"),
                    (email.to_lowercase(), id),
                )
                .await
                .map_err(cql_err)?,
        )?;
        if !claimed {
            self.exec("DELETE FROM users WHERE id = ?", (id,)).await?;
            return Err(StoreError::AlreadyExists(format!("user {email}")));
        }
        Ok(id)
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, StoreError> {
        // nothing is stored under an empty key, and CQL refuses to look one up (an error, not
        // "no row"): a login with an empty email is a wrong login, not a store failure
        if email.is_empty() {
            return Ok(None);
        }
        match self.one::<(Option<i64>,)>("SELECT id FROM users_by_email WHERE email = ?", (email.to_lowercase(),)).await? {
            Some((Some(id),)) => self.user_by_id(id).await,
            _ => Ok(None),
        }
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, StoreError> {
        Ok(self.one::<UserCols>(&format!("SELECT {USER_COLS} FROM users WHERE id = ?"), (id,)).await?.map(UserRow::from))
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        // the email index is the set of users (a users row without one is an unfinished add)
        Ok(self.all::<(String,)>("SELECT email FROM users_by_email", ()).await?.len() as u64)
    }

    async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        let mut users = Vec::new();
        for (_, id) in self.all::<(String, Option<i64>)>("SELECT email, id FROM users_by_email", ()).await? {
            if let Some(u) = match id {
                Some(id) => self.user_by_id(id).await?,
                None => None,
            } {
                users.push(u);
            }
        }
        users.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(users)
    }

    async fn delete_user(&self, id: i64) -> Result<bool, StoreError> {
        let Some(user) = self.user_by_id(id).await? else { return Ok(false) };
        for (site,) in self.all::<(String,)>("SELECT website_id FROM members_by_user WHERE user_id = ?", (id,)).await? {
            self.exec("DELETE FROM members WHERE website_id = ? AND user_id = ?", (&site, id)).await?;
        }
        self.exec("DELETE FROM members_by_user WHERE user_id = ?", (id,)).await?;
        self.end_sessions_of(id).await?;
        self.end_setup_links_of(id).await?;
        for w in self.all_websites().await? {
            if w.owner_id == Some(id) {
                self.exec("UPDATE websites SET owner_id = null WHERE id = ?", (&w.id,)).await?;
            }
        }
        self.exec("DELETE FROM users_by_email WHERE email = ?", (user.email.to_lowercase(),)).await?;
        self.exec("DELETE FROM users WHERE id = ?", (id,)).await?;
        Ok(true)
    }

    async fn set_password(&self, id: i64, password_hash: &str) -> Result<(), StoreError> {
        self.exec("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, id)).await?;
        self.end_sessions_of(id).await?;
        self.end_setup_links_of(id).await
    }

    async fn create_session(&self, s: &SessionRow) -> Result<(), StoreError> {
        let ttl = ttl_until(s.expires_at_ms);
        self.exec(
            "INSERT INTO sessions (id, user_id, secret_hash, expires_at_ms) VALUES (?, ?, ?, ?) USING TTL ?",
            (&s.id, s.user_id, &s.secret_hash, s.expires_at_ms, ttl),
        )
        .await?;
        self.exec("INSERT INTO sessions_by_user (user_id, id) VALUES (?, ?) USING TTL ?", (s.user_id, &s.id, ttl)).await
    }

    async fn session(&self, id: &str, now_ms: i64) -> Result<Option<(SessionRow, UserRow)>, StoreError> {
        if id.is_empty() {
            return Ok(None); // see `user_by_email`
        }
        let row = self
            .one::<(String, Option<i64>, Option<String>, Option<i64>)>(
                "SELECT id, user_id, secret_hash, expires_at_ms FROM sessions WHERE id = ?",
                (id,),
            )
            .await?;
        let Some((id, Some(user_id), Some(secret_hash), Some(expires_at_ms))) = row else { return Ok(None) };
        if expires_at_ms <= now_ms {
            return Ok(None);
        }
        Ok(self.user_by_id(user_id).await?.map(|u| (SessionRow { id, user_id, secret_hash, expires_at_ms }, u)))
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        if id.is_empty() {
            return Ok(()); // see `user_by_email`
        }
        if let Some((Some(user_id),)) = self.one::<(Option<i64>,)>("SELECT user_id FROM sessions WHERE id = ?", (id,)).await? {
            self.exec("DELETE FROM sessions_by_user WHERE user_id = ? AND id = ?", (user_id, id)).await?;
        }
        self.exec("DELETE FROM sessions WHERE id = ?", (id,)).await
    }

    async fn create_setup_link(&self, user_id: i64, token_hash: &str, expires_at_ms: i64) -> Result<(), StoreError> {
        self.end_setup_links_of(user_id).await?;
        let ttl = ttl_until(expires_at_ms);
        self.exec(
            "INSERT INTO setup_links (token_hash, user_id, expires_at_ms) VALUES (?, ?, ?) USING TTL ?",
            (token_hash, user_id, expires_at_ms, ttl),
        )
        .await?;
        self.exec(
            "INSERT INTO setup_links_by_user (user_id, token_hash) VALUES (?, ?) USING TTL ?",
            (user_id, token_hash, ttl),
        )
        .await
    }

    async fn setup_link_user(&self, token_hash: &str, now_ms: i64) -> Result<Option<UserRow>, StoreError> {
        match self
            .one::<(Option<i64>, Option<i64>)>("SELECT user_id, expires_at_ms FROM setup_links WHERE token_hash = ?", (token_hash,))
            .await?
        {
            Some((Some(user_id), Some(exp))) if exp > now_ms => self.user_by_id(user_id).await,
            _ => Ok(None),
        }
    }

    async fn create_website(&self, site: &Website, owner: Option<i64>) -> Result<(), StoreError> {
        let created = lwt_applied(
            self.db
                .execute_unpaged(
                    self.lwt(
                        "INSERT INTO websites (id, domain, name, owner_id, created_at, timezone, allowed_hostnames, url_params) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS",
                    ),
                    (
                        &site.id,
                        &site.domain,
                        &site.name,
                        owner,
                        CqlTimestamp(Utc::now().timestamp_millis()),
                        &site.timezone,
                        site.allowed_hostnames.join(" "),
                        site.url_params.join(" "),
                    ),
                )
                .await
                .map_err(cql_err)?,
        )?;
        if created { Ok(()) } else { Err(StoreError::AlreadyExists(format!("website {}", site.id))) }
    }

    async fn website(&self, id: &str) -> Result<Option<Website>, StoreError> {
        Ok(self.website_row(id).await?.map(WebsiteCols::website))
    }

    async fn update_website(&self, site: &Website) -> Result<bool, StoreError> {
        if self.website_row(&site.id).await?.is_none() {
            return Ok(false);
        }
        self.exec(
            "UPDATE websites SET domain = ?, name = ?, timezone = ?, allowed_hostnames = ?, url_params = ? WHERE id = ?",
            (&site.domain, &site.name, &site.timezone, site.allowed_hostnames.join(" "), site.url_params.join(" "), &site.id),
        )
        .await?;
        Ok(true)
    }

    async fn delete_website(&self, id: &str) -> Result<bool, StoreError> {
        if self.website_row(id).await?.is_none() {
            return Ok(false);
        }
        for (user_id,) in self.all::<(i64,)>("SELECT user_id FROM members WHERE website_id = ?", (id,)).await? {
            self.exec("DELETE FROM members_by_user WHERE user_id = ? AND website_id = ?", (user_id, id)).await?;
        }
        self.exec("DELETE FROM members WHERE website_id = ?", (id,)).await?;
        self.delete_share(id).await?;
        self.delete_events(id).await?;
        self.exec("DELETE FROM websites WHERE id = ?", (id,)).await?;
        Ok(true)
    }

    async fn websites_for(&self, user: &UserRow) -> Result<Vec<Website>, StoreError> {
        let shared: Vec<(String,)> = if user.is_admin {
            Vec::new()
        } else {
            self.all("SELECT website_id FROM members_by_user WHERE user_id = ?", (user.id,)).await?
        };
        let mut sites: Vec<Website> = self
            .all_websites()
            .await?
            .into_iter()
            .filter(|w| user.is_admin || w.owner_id == Some(user.id) || shared.iter().any(|(s,)| *s == w.id))
            .map(WebsiteCols::website)
            .collect();
        sites.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.id.cmp(&b.id)));
        Ok(sites)
    }

    async fn can_access(&self, user: &UserRow, website_id: &str) -> Result<bool, StoreError> {
        let Some(w) = self.website_row(website_id).await? else { return Ok(false) };
        Ok(user.is_admin || w.owner_id == Some(user.id) || self.member_role(website_id, user.id).await?.is_some())
    }

    async fn can_manage(&self, user: &UserRow, website_id: &str) -> Result<bool, StoreError> {
        let Some(w) = self.website_row(website_id).await? else { return Ok(false) };
        Ok(user.is_admin
            || w.owner_id == Some(user.id)
            || self.member_role(website_id, user.id).await?.as_deref() == Some(MemberRole::Admin.as_str()))
    }

    async fn grant(&self, website_id: &str, user_id: i64, role: MemberRole) -> Result<(), StoreError> {
        self.exec("INSERT INTO members (website_id, user_id, role) VALUES (?, ?, ?)", (website_id, user_id, role.as_str()))
            .await?;
        self.exec(
            "INSERT INTO members_by_user (user_id, website_id, role) VALUES (?, ?, ?)",
            (user_id, website_id, role.as_str()),
        )
        .await
    }

    async fn revoke(&self, website_id: &str, user_id: i64) -> Result<bool, StoreError> {
        let had = self.member_role(website_id, user_id).await?.is_some();
        self.exec("DELETE FROM members WHERE website_id = ? AND user_id = ?", (website_id, user_id)).await?;
        self.exec("DELETE FROM members_by_user WHERE user_id = ? AND website_id = ?", (user_id, website_id)).await?;
        Ok(had)
    }

    async fn members(&self, website_id: &str) -> Result<Vec<Membership>, StoreError> {
        let mut out = Vec::new();
        for (user_id, role) in
            self.all::<(i64, Option<String>)>("SELECT user_id, role FROM members WHERE website_id = ?", (website_id,)).await?
        {
            if let Some(u) = self.user_by_id(user_id).await? {
                out.push(Membership {
                    website_id: website_id.to_string(),
                    email: u.email,
                    role: role.as_deref().and_then(MemberRole::parse).unwrap_or(MemberRole::Viewer),
                });
            }
        }
        out.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(out)
    }

    async fn set_share(&self, website_id: &str, token_hash: &str) -> Result<(), StoreError> {
        self.delete_share(website_id).await?;
        self.exec("INSERT INTO share_by_token (token_hash, website_id) VALUES (?, ?)", (token_hash, website_id)).await?;
        self.exec("INSERT INTO share_links (website_id, token_hash) VALUES (?, ?)", (website_id, token_hash)).await
    }

    async fn share_website(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
        let Some((Some(site),)) =
            self.one::<(Option<String>,)>("SELECT website_id FROM share_by_token WHERE token_hash = ?", (token_hash,)).await?
        else {
            return Ok(None);
        };
        // only the website's current link opens it
        let current = self.one::<(Option<String>,)>("SELECT token_hash FROM share_links WHERE website_id = ?", (&site,)).await?;
        Ok(matches!(current, Some((Some(ref h),)) if h == token_hash).then_some(site))
    }

    async fn has_share(&self, website_id: &str) -> Result<bool, StoreError> {
        Ok(matches!(
            self.one::<(Option<String>,)>("SELECT token_hash FROM share_links WHERE website_id = ?", (website_id,)).await?,
            Some((Some(_),))
        ))
    }

    async fn delete_share(&self, website_id: &str) -> Result<bool, StoreError> {
        let current = self.one::<(Option<String>,)>("SELECT token_hash FROM share_links WHERE website_id = ?", (website_id,)).await?;
        let Some((Some(hash),)) = current else { return Ok(false) };
        self.exec("DELETE FROM share_by_token WHERE token_hash = ?", (&hash,)).await?;
        self.exec("DELETE FROM share_links WHERE website_id = ?", (website_id,)).await?;
        Ok(true)
    }

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.one::<(Option<String>,)>("SELECT value FROM settings WHERE key = ?", (key,)).await?.and_then(|(v,)| v))
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.exec("INSERT INTO settings (key, value) VALUES (?, ?)", (key, value)).await
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        self.claim_setting(key, value).await
    }

    async fn delete_settings_before(&self, prefix: &str, before: &str) -> Result<(), StoreError> {
        for (key,) in self.all::<(String,)>("SELECT key FROM settings", ()).await? {
            if key.starts_with(prefix) && key.as_str() < before {
                self.exec("DELETE FROM settings WHERE key = ?", (&key,)).await?;
            }
        }
        Ok(())
    }
}
