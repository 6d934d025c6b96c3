//! Folder source: canonical JSON files dropped into `<path>/<UNIT CODE>/` become submissions of that unit.
//!
//! The folder's file permissions are the authentication: whoever may write into a unit's
//! folder submits as that unit. A file is moved away only after its submission commits, and
//! its dedupe key is its content hash, so a crash in between reprocesses nothing twice.

use crate::intake::Intake;
use crate::model::submission::Sender;
use crate::model::{Channel, ErrorCode, IntakeError, Outcome, Submission, UnitCode};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::watch;

/// The largest file it reads; larger ones are moved to `rejected/` with a note.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

pub struct FolderSource {
    /// The connector's name, for its `tongbao_connector_up`.
    name: String,
    root: PathBuf,
    poll: Duration,
}

impl FolderSource {
    pub fn new(name: &str, root: PathBuf, poll: Duration) -> FolderSource {
        FolderSource { name: name.to_string(), root, poll }
    }

    /// Reads the inbox every `poll` until shutdown; counts as connected while its scans succeed.
    pub async fn run(self, intake: Intake, mut shutdown: watch::Receiver<bool>) {
        let metrics = crate::metrics::get();
        if let Err(e) = std::fs::create_dir_all(&self.root) {
            tracing::warn!(path = %self.root.display(), error = %e, "idle: cannot create the inbox folder");
            metrics.connector(&self.name, false);
            return;
        }
        loop {
            let scanned = self.scan(&intake, &shutdown).await;
            metrics.connector(&self.name, scanned.is_ok());
            if let Err(e) = scanned {
                tracing::warn!(path = %self.root.display(), error = %e, "inbox scan failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll) => {}
                _ = shutdown.changed() => return,
            }
        }
    }

    /// One pass over every unit folder.
    pub async fn scan(&self, intake: &Intake, shutdown: &watch::Receiver<bool>) -> std::io::Result<usize> {
        let mut done = 0;
        for unit_dir in std::fs::read_dir(&self.root)? {
            let unit_dir = unit_dir?.path();
            // A symlink is never followed: it could lead into another unit's folder or out of the inbox.
            if !std::fs::symlink_metadata(&unit_dir).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            let Some(code) = unit_dir.file_name().and_then(|n| n.to_str()).and_then(|n| n.parse::<UnitCode>().ok()) else { continue };
            let entries: Vec<PathBuf> =
                std::fs::read_dir(&unit_dir)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| !being_written(p)).collect();
            let is_json = |p: &PathBuf| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("json"));
            let is_file = |p: &PathBuf| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file());
            // A plain file of another kind (a CSV, a workbook, a note) is answered, not left
            // there unread at every pass: moved aside with a receipt saying what is read here.
            for other in entries.iter().filter(|p| !is_json(p) && is_file(p)) {
                let name = other.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let error =
                    IntakeError::new(ErrorCode::NotJson, name, "报送文件夹只读取 .json 文件（表格请通过上传页面或电子邮件报送）", None);
                let note = serde_json::json!({ "outcome": Outcome::Rejected, "stored": false, "errors": [error] });
                match file_with_receipt(other, &unit_dir.join("rejected"), &serde_json::to_vec_pretty(&note).unwrap_or_default()) {
                    Ok(_) => tracing::warn!(file = %other.display(), "not a .json file; moved to rejected/ with a receipt, unread"),
                    Err(e) => tracing::warn!(file = %other.display(), error = %e, "not a .json file, and it cannot be moved aside"),
                }
            }
            let (mut files, strays): (Vec<PathBuf>, Vec<PathBuf>) = entries.into_iter().filter(is_json).partition(is_file);
            // A *.json that is no plain file (a symlink, a directory, a pipe) is never read: it
            // is moved aside, itself and unfollowed, with a receipt that says why, rather than
            // left to be skipped at every pass without a word.
            for stray in strays {
                let name = stray.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let error = IntakeError::new(ErrorCode::WrongType, name, "普通文件（不是符号链接、目录或管道）", None);
                let note = serde_json::json!({ "outcome": Outcome::Rejected, "stored": false, "errors": [error] });
                match file_with_receipt(&stray, &unit_dir.join("rejected"), &serde_json::to_vec_pretty(&note).unwrap_or_default()) {
                    Ok(_) => tracing::warn!(file = %stray.display(), "not a plain file; moved to rejected/ with a receipt, unread"),
                    Err(e) => {
                        tracing::warn!(file = %stray.display(), error = %e, "not a plain file, and it cannot be moved aside; left unread")
                    }
                }
            }
            files.sort();
            for file in files {
                if *shutdown.borrow() {
                    return Ok(done);
                }
                if self.take(&file, &code, intake, shutdown).await? {
                    done += 1;
                }
            }
        }
        Ok(done)
    }

    async fn take(&self, file: &Path, unit: &UnitCode, intake: &Intake, shutdown: &watch::Receiver<bool>) -> std::io::Result<bool> {
        let dir = file.parent().expect("a file in a unit folder");
        let Some(raw) = read_no_follow(file, MAX_FILE_BYTES)? else {
            tracing::warn!(file = %file.display(), limit = MAX_FILE_BYTES, "file too large; moved to rejected/ with a receipt");
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let error = IntakeError::new(ErrorCode::TooLarge, name, format!("不超过 {} MB 的文件", MAX_FILE_BYTES >> 20), None);
            let note = serde_json::json!({ "outcome": Outcome::Rejected, "stored": false, "errors": [error] });
            file_with_receipt(file, &dir.join("rejected"), &serde_json::to_vec_pretty(&note).unwrap_or_default())?;
            return Ok(true);
        };
        let mut sub = Submission::by_content(Channel::Upload, Sender::Unit(unit.clone()), raw, crate::clock::now());
        sub.dedupe_key = format!("folder:{}", sub.dedupe_key);
        sub.external_id = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let Some(receipt) = super::submit_until_stored(intake, sub, shutdown).await else { return Ok(false) };
        let target = if receipt.outcome == Outcome::Rejected { "rejected" } else { "processed" };
        file_with_receipt(file, &dir.join(target), &serde_json::to_vec_pretty(&receipt).unwrap_or_default())?;
        tracing::info!(file = %file.display(), unit = %unit, outcome = receipt.outcome.code(), submission = %receipt.submission_id, "ingested");
        Ok(true)
    }
}

/// The file's bytes, opened without following a symlink (one swapped in after the scan is
/// refused by the kernel); `None` when it holds more than `max` bytes.
fn read_no_follow(file: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(file)?;
    let mut raw = Vec::new();
    f.take(max + 1).read_to_end(&mut raw)?;
    Ok((raw.len() as u64 <= max).then_some(raw))
}

/// Files `file` into `dir` with its receipt beside it. The receipt is written first: killed
/// between the two steps, the file is still in the inbox, read again as a repeat and filed with
/// its receipt then; moved first, a kill would leave it filed without one, never looked at again.
/// A name that says the file is still being written (`.name`, `name.tmp`, `name.part`,
/// `name~`): never read, never moved, until it is renamed to its final name.
fn being_written(p: &Path) -> bool {
    let name = p.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    name.starts_with('.') || name.ends_with(".tmp") || name.ends_with(".part") || name.ends_with('~')
}

fn file_with_receipt(file: &Path, dir: &Path, receipt: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let target = dir.join(file.file_name().expect("a file name"));
    std::fs::write(target.with_extension("receipt.json"), receipt)?;
    std::fs::rename(file, &target)?;
    Ok(target)
}
