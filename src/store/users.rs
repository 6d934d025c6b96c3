//! Console users and their sessions: what the store keeps of who may log in, and who is logged in.

use crate::model::{User, UserName};
use crate::store::StoreError;
use chrono::{DateTime, Utc};

/// Users and sessions. A session is stored only as the hash of its id, so the database alone
/// opens no session.
pub trait UserStore {
    /// Adds `user`, or replaces the one of that name when `replace`; `false` (nothing written)
    /// when the name is taken and `replace` is not set. Replacing ends the user's sessions.
    fn put_user(&self, user: &User, replace: bool, at: DateTime<Utc>) -> impl Future<Output = Result<bool, StoreError>> + Send;
    fn user(&self, name: &UserName) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    /// Every user, by name.
    fn users(&self) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;
    /// Removes a user and ends their sessions; `false` when there was none of that name.
    fn remove_user(&self, name: &UserName, at: DateTime<Utc>) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Opens a session for `user` until `expires_at`.
    fn open_session(
        &self,
        id_hash: &str,
        user: &UserName,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The user of an unexpired session.
    fn session_user(&self, id_hash: &str, now: DateTime<Utc>) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;
    /// Ends a session (logout); expired sessions are dropped along the way.
    fn close_session(&self, id_hash: &str, now: DateTime<Utc>) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Keeps a file `user` uploaded for a preview until `DRAFT_HOURS` after `at`, unless the
    /// user has `DRAFTS_PER_USER` waiting or all drafts together would pass `DRAFT_BYTES`;
    /// drafts older than `DRAFT_HOURS` are dropped along the way.
    fn put_draft(
        &self,
        id: &str,
        user: &UserName,
        file_name: &str,
        bytes: &[u8],
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<DraftKept, StoreError>> + Send;
    /// `user`'s unexpired draft: its file name and bytes.
    fn draft(
        &self,
        id: &str,
        user: &UserName,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<(String, Vec<u8>)>, StoreError>> + Send;
    fn drop_draft(&self, id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How long an uploaded file waits for its confirmation.
pub const DRAFT_HOURS: i64 = 1;
/// Previews one user may have waiting at once.
pub const DRAFTS_PER_USER: i64 = 5;
/// Bytes all waiting previews may hold together.
pub const DRAFT_BYTES: i64 = 512 << 20;

/// Whether a preview's file was kept for its confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftKept {
    Kept,
    /// The user has `DRAFTS_PER_USER` previews waiting; nothing kept.
    UserFull,
    /// All previews together would pass `DRAFT_BYTES`; nothing kept.
    HubFull,
}

/// A user from its stored columns.
pub(crate) fn user_from(name: &str, role: &str, password_hash: String) -> Result<User, StoreError> {
    Ok(User {
        name: name.parse().map_err(|e| super::shared::corrupt("users.name", e))?,
        role: role.parse().map_err(|e| super::shared::corrupt("users.role", e))?,
        password_hash,
    })
}
