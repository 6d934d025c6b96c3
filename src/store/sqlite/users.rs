//! Console users and sessions on SQLite.

use super::{SqliteStore, ms};
use crate::model::{User, UserName};
use crate::store::StoreError;
use crate::store::users::{DRAFT_BYTES, DRAFT_HOURS, DRAFTS_PER_USER, DraftKept, UserStore, user_from};
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, Row};

fn row_to_user(row: &SqliteRow) -> Result<User, StoreError> {
    user_from(row.try_get("name")?, row.try_get("role")?, row.try_get("password_hash")?)
}

impl UserStore for SqliteStore {
    async fn put_user(&self, user: &User, replace: bool, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let exists = sqlx::query("SELECT 1 FROM users WHERE name = ?").bind(user.name.as_str()).fetch_optional(&mut *tx).await?.is_some();
        if exists && !replace {
            return Ok(false);
        }
        sqlx::query("DELETE FROM sessions WHERE user_name = ?").bind(user.name.as_str()).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash",
        )
        .bind(user.name.as_str())
        .bind(user.role.to_string())
        .bind(&user.password_hash)
        .bind(ms(at))
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, 'operator', ?, ?, ?)")
            .bind(ms(at))
            .bind(if exists { "user.replaced" } else { "user.added" })
            .bind(user.name.as_str())
            .bind(serde_json::json!({ "role": user.role.to_string() }).to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn user(&self, name: &UserName) -> Result<Option<User>, StoreError> {
        let row = sqlx::query("SELECT name, role, password_hash FROM users WHERE name = ?")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_user).transpose()
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query("SELECT name, role, password_hash FROM users ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(row_to_user).collect()
    }

    async fn remove_user(&self, name: &UserName, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM sessions WHERE user_name = ?").bind(name.as_str()).execute(&mut *tx).await?;
        let removed = sqlx::query("DELETE FROM users WHERE name = ?").bind(name.as_str()).execute(&mut *tx).await?.rows_affected() == 1;
        if removed {
            sqlx::query("INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, 'operator', 'user.removed', ?, '{}')")
                .bind(ms(at))
                .bind(name.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    async fn open_session(&self, id_hash: &str, user: &UserName, at: DateTime<Utc>, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut writer = self.writer().await?;
        sqlx::query("INSERT INTO sessions (id_hash, user_name, created_at, expires_at) VALUES (?, ?, ?, ?)")
            .bind(id_hash)
            .bind(user.as_str())
            .bind(ms(at))
            .bind(ms(expires_at))
            .execute(&mut *writer)
            .await?;
        Ok(())
    }

    async fn session_user(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT u.name, u.role, u.password_hash FROM sessions s JOIN users u ON u.name = s.user_name \
             WHERE s.id_hash = ? AND s.expires_at > ?",
        )
        .bind(id_hash)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(row_to_user).transpose()
    }

    async fn close_session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut writer = self.writer().await?;
        sqlx::query("DELETE FROM sessions WHERE id_hash = ? OR expires_at <= ?").bind(id_hash).bind(ms(now)).execute(&mut *writer).await?;
        Ok(())
    }

    async fn put_draft(
        &self,
        id: &str,
        user: &UserName,
        file_name: &str,
        bytes: &[u8],
        at: DateTime<Utc>,
    ) -> Result<DraftKept, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM upload_drafts WHERE created_at < ?")
            .bind(ms(at - chrono::Duration::hours(DRAFT_HOURS)))
            .execute(&mut *tx)
            .await?;
        let (mine, held): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM upload_drafts WHERE user_name = ?), (SELECT coalesce(sum(length(bytes)), 0) FROM upload_drafts)",
        )
        .bind(user.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if mine >= DRAFTS_PER_USER {
            return Ok(DraftKept::UserFull);
        }
        if held + bytes.len() as i64 > DRAFT_BYTES {
            return Ok(DraftKept::HubFull);
        }
        sqlx::query("INSERT INTO upload_drafts (id, user_name, file_name, bytes, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(user.as_str())
            .bind(file_name)
            .bind(bytes)
            .bind(ms(at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DraftKept::Kept)
    }

    async fn draft(&self, id: &str, user: &UserName, now: DateTime<Utc>) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let row = sqlx::query("SELECT file_name, bytes FROM upload_drafts WHERE id = ? AND user_name = ? AND created_at >= ?")
            .bind(id)
            .bind(user.as_str())
            .bind(ms(now - chrono::Duration::hours(DRAFT_HOURS)))
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("file_name")?, r.try_get("bytes")?)),
            None => None,
        })
    }

    async fn drop_draft(&self, id: &str) -> Result<(), StoreError> {
        let mut writer = self.writer().await?;
        sqlx::query("DELETE FROM upload_drafts WHERE id = ?").bind(id).execute(&mut *writer).await?;
        Ok(())
    }
}
