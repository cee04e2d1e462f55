//! `AccountStore` on the embedded SQLite file: users, sessions and setup links, websites,
//! memberships, share links and settings. Writes share the store's write connection (they are
//! rare); reads use the read connection.

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{params, OptionalExtension};

use super::sqlite::SqliteStore;
use super::{AccountStore, SessionRow, StoreError, UserRow};
use crate::model::{MemberRole, Membership, Website};

const USER_COLUMNS: &str = "id, email, password_hash, is_admin";
const WEBSITE_COLUMNS: &str = "id, domain, name, timezone, allowed_hostnames, url_params";

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow { id: r.get(0)?, email: r.get(1)?, password_hash: r.get(2)?, is_admin: r.get(3)? })
}

/// Lists are kept as space-separated words (hostnames and parameter names hold no spaces).
fn words(s: String) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn website_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Website> {
    Ok(Website {
        id: r.get(0)?,
        domain: r.get(1)?,
        name: r.get(2)?,
        timezone: r.get(3)?,
        allowed_hostnames: words(r.get(4)?),
        url_params: words(r.get(5)?),
    })
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_user(&self, email: &str, password_hash: &str, is_admin: bool) -> Result<i64, StoreError> {
        let (email, hash) = (email.to_string(), password_hash.to_string());
        self.write(move |c| {
            match c.execute(
                "INSERT INTO users (email, password_hash, is_admin, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![email, hash, is_admin, Utc::now().to_rfc3339()],
            ) {
                Ok(_) => Ok(c.last_insert_rowid()),
                Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists(format!("user {email}"))),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, StoreError> {
        let email = email.to_string();
        self.read(move |c| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1");
            Ok(c.query_row(&sql, params![email], user_from_row).optional()?)
        })
        .await
    }

    async fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, StoreError> {
        self.read(move |c| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
            Ok(c.query_row(&sql, params![id], user_from_row).optional()?)
        })
        .await
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))? as u64))
            .await
    }

    async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"))?;
            let rows = stmt.query_map([], user_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn delete_user(&self, id: i64) -> Result<bool, StoreError> {
        self.write(move |c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM members WHERE user_id = ?1", params![id])?;
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", params![id])?;
            tx.execute("DELETE FROM setup_links WHERE user_id = ?1", params![id])?;
            tx.execute("UPDATE websites SET owner_id = NULL WHERE owner_id = ?1", params![id])?;
            let gone = tx.execute("DELETE FROM users WHERE id = ?1", params![id])? > 0;
            tx.commit()?;
            Ok(gone)
        })
        .await
    }

    async fn set_password(&self, id: i64, password_hash: &str) -> Result<(), StoreError> {
        let hash = password_hash.to_string();
        self.write(move |c| {
            let tx = c.transaction()?;
            tx.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![id, hash])?;
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", params![id])?;
            tx.execute("DELETE FROM setup_links WHERE user_id = ?1", params![id])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn create_session(&self, session: &SessionRow) -> Result<(), StoreError> {
        let s = session.clone();
        self.write(move |c| {
            // expired sessions go as new ones come: the table holds live logins only
            c.execute("DELETE FROM sessions WHERE expires_at_ms < ?1", params![Utc::now().timestamp_millis()])?;
            c.execute(
                "INSERT INTO sessions (id, user_id, secret_hash, expires_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![s.id, s.user_id, s.secret_hash, s.expires_at_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn session(&self, id: &str, now_ms: i64) -> Result<Option<(SessionRow, UserRow)>, StoreError> {
        let id = id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT s.id, s.user_id, s.secret_hash, s.expires_at_ms, u.id, u.email, u.password_hash, u.is_admin
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?1 AND s.expires_at_ms > ?2",
            )?;
            Ok(stmt
                .query_row(params![id, now_ms], |r| {
                    let session =
                        SessionRow { id: r.get(0)?, user_id: r.get(1)?, secret_hash: r.get(2)?, expires_at_ms: r.get(3)? };
                    let user = UserRow { id: r.get(4)?, email: r.get(5)?, password_hash: r.get(6)?, is_admin: r.get(7)? };
                    Ok((session, user))
                })
                .optional()?)
        })
        .await
    }

    async fn delete_session(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_string();
        self.write(move |c| {
            c.execute("DELETE FROM sessions WHERE id = ?1", params![id])?;
            Ok(())
        })
        .await
    }

    async fn create_setup_link(&self, user_id: i64, token_hash: &str, expires_at_ms: i64) -> Result<(), StoreError> {
        let hash = token_hash.to_string();
        self.write(move |c| {
            c.execute("DELETE FROM setup_links WHERE user_id = ?1", params![user_id])?;
            c.execute(
                "INSERT INTO setup_links (token_hash, user_id, expires_at_ms) VALUES (?1, ?2, ?3)",
                params![hash, user_id, expires_at_ms],
            )?;
            Ok(())
        })
        .await
    }

    async fn setup_link_user(&self, token_hash: &str, now_ms: i64) -> Result<Option<UserRow>, StoreError> {
        let hash = token_hash.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT u.id, u.email, u.password_hash, u.is_admin FROM setup_links l JOIN users u ON u.id = l.user_id
                 WHERE l.token_hash = ?1 AND l.expires_at_ms > ?2",
                params![hash, now_ms],
                user_from_row,
            )
            .optional()?)
        })
        .await
    }

    async fn create_website(&self, site: &Website, owner: Option<i64>) -> Result<(), StoreError> {
        let site = site.clone();
        self.write(move |c| {
            match c.execute(
                "INSERT INTO websites (id, domain, name, owner_id, created_at, timezone, allowed_hostnames, url_params)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    site.id,
                    site.domain,
                    site.name,
                    owner,
                    Utc::now().to_rfc3339(),
                    site.timezone,
                    site.allowed_hostnames.join(" "),
                    site.url_params.join(" ")
                ],
            ) {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists(format!("website {}", site.id))),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn website(&self, id: &str) -> Result<Option<Website>, StoreError> {
        let id = id.to_string();
        self.read(move |c| {
            let sql = format!("SELECT {WEBSITE_COLUMNS} FROM websites WHERE id = ?1");
            Ok(c.query_row(&sql, params![id], website_from_row).optional()?)
        })
        .await
    }

    async fn update_website(&self, site: &Website) -> Result<bool, StoreError> {
        let site = site.clone();
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE websites SET domain = ?2, name = ?3, timezone = ?4, allowed_hostnames = ?5, url_params = ?6
                 WHERE id = ?1",
                params![
                    site.id,
                    site.domain,
                    site.name,
                    site.timezone,
                    site.allowed_hostnames.join(" "),
                    site.url_params.join(" ")
                ],
            )? > 0)
        })
        .await
    }

    async fn delete_website(&self, id: &str) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.write(move |c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM members WHERE website_id = ?1", params![id])?;
            tx.execute("DELETE FROM share_links WHERE website_id = ?1", params![id])?;
            tx.execute("DELETE FROM events WHERE website_id = ?1", params![id])?;
            let gone = tx.execute("DELETE FROM websites WHERE id = ?1", params![id])? > 0;
            tx.commit()?;
            Ok(gone)
        })
        .await
    }

    async fn websites_for(&self, user: &UserRow) -> Result<Vec<Website>, StoreError> {
        let (uid, admin) = (user.id, user.is_admin);
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {WEBSITE_COLUMNS} FROM websites w
                 WHERE ?2 OR w.owner_id = ?1
                    OR EXISTS (SELECT 1 FROM members m WHERE m.website_id = w.id AND m.user_id = ?1)
                 ORDER BY name COLLATE NOCASE, id"
            ))?;
            let rows = stmt.query_map(params![uid, admin], website_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn can_access(&self, user: &UserRow, website_id: &str) -> Result<bool, StoreError> {
        let (uid, admin, site) = (user.id, user.is_admin, website_id.to_string());
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM websites w WHERE w.id = ?2 AND (?3 OR w.owner_id = ?1
                    OR EXISTS (SELECT 1 FROM members m WHERE m.website_id = w.id AND m.user_id = ?1)))",
                params![uid, site, admin],
                |r| r.get::<_, bool>(0),
            )?)
        })
        .await
    }

    async fn can_manage(&self, user: &UserRow, website_id: &str) -> Result<bool, StoreError> {
        let (uid, admin, site) = (user.id, user.is_admin, website_id.to_string());
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM websites w WHERE w.id = ?2 AND (?3 OR w.owner_id = ?1
                    OR EXISTS (SELECT 1 FROM members m WHERE m.website_id = w.id AND m.user_id = ?1 AND m.role = 'admin')))",
                params![uid, site, admin],
                |r| r.get::<_, bool>(0),
            )?)
        })
        .await
    }

    async fn grant(&self, website_id: &str, user_id: i64, role: MemberRole) -> Result<(), StoreError> {
        let site = website_id.to_string();
        self.write(move |c| {
            c.execute(
                "INSERT INTO members (website_id, user_id, role) VALUES (?1, ?2, ?3)
                 ON CONFLICT (website_id, user_id) DO UPDATE SET role = excluded.role",
                params![site, user_id, role.as_str()],
            )?;
            Ok(())
        })
        .await
    }

    async fn revoke(&self, website_id: &str, user_id: i64) -> Result<bool, StoreError> {
        let site = website_id.to_string();
        self.write(move |c| {
            Ok(c.execute("DELETE FROM members WHERE website_id = ?1 AND user_id = ?2", params![site, user_id])? > 0)
        })
        .await
    }

    async fn members(&self, website_id: &str) -> Result<Vec<Membership>, StoreError> {
        let site = website_id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT m.website_id, u.email, m.role FROM members m JOIN users u ON u.id = m.user_id
                 WHERE m.website_id = ?1 ORDER BY u.email",
            )?;
            let rows = stmt
                .query_map(params![site], |r| {
                    let role: String = r.get(2)?;
                    Ok(Membership {
                        website_id: r.get(0)?,
                        email: r.get(1)?,
                        role: MemberRole::parse(&role).unwrap_or(MemberRole::Viewer),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn set_share(&self, website_id: &str, token_hash: &str) -> Result<(), StoreError> {
        let (site, hash) = (website_id.to_string(), token_hash.to_string());
        self.write(move |c| {
            c.execute(
                "INSERT INTO share_links (website_id, token_hash, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (website_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at",
                params![site, hash, Utc::now().to_rfc3339()],
            )?;
            Ok(())
        })
        .await
    }

    async fn share_website(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
        let hash = token_hash.to_string();
        self.read(move |c| {
            Ok(c.query_row("SELECT website_id FROM share_links WHERE token_hash = ?1", params![hash], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn has_share(&self, website_id: &str) -> Result<bool, StoreError> {
        let site = website_id.to_string();
        self.read(move |c| {
            Ok(c.query_row("SELECT EXISTS (SELECT 1 FROM share_links WHERE website_id = ?1)", params![site], |r| {
                r.get(0)
            })?)
        })
        .await
    }

    async fn delete_share(&self, website_id: &str) -> Result<bool, StoreError> {
        let site = website_id.to_string();
        self.write(move |c| Ok(c.execute("DELETE FROM share_links WHERE website_id = ?1", params![site])? > 0))
            .await
    }

    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_string();
        self.read(move |c| {
            Ok(c.query_row("SELECT value FROM settings WHERE key = ?1", params![key], |r| r.get(0)).optional()?)
        })
        .await
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
        .await
    }

    async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        let (key, value) = (key.to_string(), value.to_string());
        self.write(move |c| {
            c.execute("INSERT OR IGNORE INTO settings (key, value) VALUES (?1, ?2)", params![key, value])?;
            Ok(c.query_row("SELECT value FROM settings WHERE key = ?1", params![key], |r| r.get(0))?)
        })
        .await
    }

    async fn delete_settings_before(&self, prefix: &str, before: &str) -> Result<(), StoreError> {
        let (prefix, before) = (prefix.to_string(), before.to_string());
        self.write(move |c| {
            c.execute(
                "DELETE FROM settings WHERE substr(key, 1, length(?1)) = ?1 AND key < ?2",
                params![prefix, before],
            )?;
            Ok(())
        })
        .await
    }
}
