//! Console users and sessions on PostgreSQL.

use super::{PgStore, pg_text};
use crate::model::{User, UserName};
use crate::store::StoreError;
use crate::store::users::{DRAFT_BYTES, DRAFT_HOURS, DRAFTS_PER_USER, DraftKept, UserStore, user_from};
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;

fn row_to_user(row: &PgRow) -> Result<User, StoreError> {
    user_from(row.try_get("name")?, row.try_get("role")?, row.try_get("password_hash")?)
}

impl UserStore for PgStore {
    async fn put_user(&self, user: &User, replace: bool, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Locks the row if there is one; two instances adding one name race on the primary key.
        let exists = sqlx::query("SELECT 1 FROM users WHERE name = $1 FOR UPDATE")
            .bind(user.name.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if exists && !replace {
            return Ok(false);
        }
        sqlx::query("DELETE FROM sessions WHERE user_name = $1").bind(user.name.as_str()).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET role = excluded.role, password_hash = excluded.password_hash",
        )
        .bind(user.name.as_str())
        .bind(user.role.to_string())
        .bind(&user.password_hash)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO audit (at, actor, action, subject, detail) VALUES ($1, 'operator', $2, $3, $4)")
            .bind(at)
            .bind(if exists { "user.replaced" } else { "user.added" })
            .bind(user.name.as_str())
            .bind(sqlx::types::Json(serde_json::json!({ "role": user.role.to_string() })))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn user(&self, name: &UserName) -> Result<Option<User>, StoreError> {
        let row = sqlx::query("SELECT name, role, password_hash FROM users WHERE name = $1")
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
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sessions WHERE user_name = $1").bind(name.as_str()).execute(&mut *tx).await?;
        let removed = sqlx::query("DELETE FROM users WHERE name = $1").bind(name.as_str()).execute(&mut *tx).await?.rows_affected() == 1;
        if removed {
            sqlx::query("INSERT INTO audit (at, actor, action, subject, detail) VALUES ($1, 'operator', 'user.removed', $2, '{}'::jsonb)")
                .bind(at)
                .bind(name.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    async fn open_session(&self, id_hash: &str, user: &UserName, at: DateTime<Utc>, expires_at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (id_hash, user_name, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(pg_text(id_hash))
            .bind(user.as_str())
            .bind(at)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn session_user(&self, id_hash: &str, now: DateTime<Utc>) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(
            "SELECT u.name, u.role, u.password_hash FROM sessions s JOIN users u ON u.name = s.user_name \
             WHERE s.id_hash = $1 AND s.expires_at > $2",
        )
        .bind(pg_text(id_hash))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(row_to_user).transpose()
    }

    async fn close_session(&self, id_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1 OR expires_at <= $2")
            .bind(pg_text(id_hash))
            .bind(now)
            .execute(&self.pool)
            .await?;
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
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM upload_drafts WHERE created_at < $1")
            .bind(at - chrono::Duration::hours(DRAFT_HOURS))
            .execute(&mut *tx)
            .await?;
        // Two previews at once are counted one after the other, across instances.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('upload_drafts', 0))").execute(&mut *tx).await?;
        let (mine, held): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM upload_drafts WHERE user_name = $1), (SELECT coalesce(sum(octet_length(bytes)), 0)::bigint FROM upload_drafts)",
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
        sqlx::query("INSERT INTO upload_drafts (id, user_name, file_name, bytes, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(pg_text(id))
            .bind(user.as_str())
            .bind(pg_text(file_name))
            .bind(bytes)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(DraftKept::Kept)
    }

    async fn draft(&self, id: &str, user: &UserName, now: DateTime<Utc>) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let row = sqlx::query("SELECT file_name, bytes FROM upload_drafts WHERE id = $1 AND user_name = $2 AND created_at >= $3")
            .bind(pg_text(id))
            .bind(user.as_str())
            .bind(now - chrono::Duration::hours(DRAFT_HOURS))
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some((r.try_get("file_name")?, r.try_get("bytes")?)),
            None => None,
        })
    }

    async fn drop_draft(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM upload_drafts WHERE id = $1").bind(pg_text(id)).execute(&self.pool).await?;
        Ok(())
    }
}
