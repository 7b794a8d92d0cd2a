//! The output folder: the one place that decides whether `--out` may be written, and the
//! only code that creates, replaces or removes anything there.
//!
//! Rules (docs/guide.md, "The output folder"):
//! - An existing `--out` is replaced only when it is empty or an earlier idresolve output
//!   (it holds `state.json` written by idresolve). Anything else — a folder of the user's
//!   files, a regular file, a device such as `/dev/null`, a symbolic link — is refused
//!   with a usage error (exit 2) before any work starts.
//! - `--out` may not be, or contain, the config file or an input export.
//! - A run writes into a staging folder beside `--out` (`.NAME.idresolve-tmp-PID`),
//!   fsyncs every file and the folder, then swaps it into place with one atomic
//!   exchange (`renameat2(RENAME_EXCHANGE)` on Linux; a rename pair elsewhere, recovered
//!   at the next start if interrupted between the two).
//! - A lock file beside `--out` (`.NAME.idresolve-lock`) makes a second run into the
//!   same folder fail at once; staging folders left by killed runs are removed by the
//!   next run that holds the lock.
//! - Files are created 0600 and folders 0700 (the outputs hold personal data); an
//!   existing `--out` keeps its mode.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The marker every run writes; its `tool` field names idresolve.
pub const MARKER: &str = "state.json";
/// The value of the marker's `tool` field.
pub const TOOL: &str = "idresolve";

const STAGING_TAG: &str = ".idresolve-tmp-";
const OLD_TAG: &str = ".idresolve-old-";
const LOCK_TAG: &str = ".idresolve-lock";

/// An output folder prepared for one run: checked, locked, with an empty staging folder.
/// Dropping it without [`OutputDir::commit`] removes the staging folder.
#[derive(Debug)]
pub struct OutputDir {
    out: PathBuf,
    parent: PathBuf,
    staging: PathBuf,
    mode: Option<u32>,
    _lock: File,
    committed: bool,
}

fn usage(msg: String) -> Error {
    Error::Usage(msg)
}

/// What an existing path at `--out` is, if it may not be replaced.
fn refusal(out: &Path) -> Option<String> {
    let meta = match fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(_) => return None,
    };
    let ft = meta.file_type();
    let shown = out.display();
    if ft.is_symlink() {
        return Some(format!(
            "--out {shown} is a symbolic link; idresolve does not replace links (or what they point to): give the real folder or a new one"
        ));
    }
    if ft.is_file() {
        return Some(format!(
            "--out {shown} is a regular file, not an output folder; idresolve will not replace it: give a folder name"
        ));
    }
    if !ft.is_dir() {
        return Some(format!(
            "--out {shown} is a device, FIFO or socket, not a folder; idresolve will not replace it (to discard the outputs, use a temporary folder)"
        ));
    }
    if is_idresolve_output(out) {
        return None;
    }
    let entries: Vec<String> = match fs::read_dir(out) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) => return Some(format!("--out {shown}: cannot read the folder: {e}")),
    };
    if entries.is_empty() {
        return None;
    }
    let mut shown_entries = entries.clone();
    shown_entries.sort();
    shown_entries.truncate(5);
    Some(format!(
        "--out {shown} holds {} that idresolve did not write (e.g. {}); idresolve replaces only empty folders and its own earlier outputs: choose a new folder, or move those files away",
        if entries.len() == 1 { "1 entry".to_string() } else { format!("{} entries", entries.len()) },
        shown_entries.join(", ")
    ))
}

/// True when `dir` holds the marker of an earlier idresolve run.
pub fn is_idresolve_output(dir: &Path) -> bool {
    let Ok(text) = fs::read_to_string(dir.join(MARKER)) else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    // Outputs of versions before the marker had only the ID counter, with the mapping
    // and run report beside it.
    v.get("tool").and_then(|t| t.as_str()) == Some(TOOL)
        || (v.get("next_golden_id").is_some()
            && dir.join("mapping.csv").is_file()
            && dir.join("run.json").is_file())
}

/// The absolute, symlink-free form of `p` where it exists, else of its parent plus name.
fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = fs::canonicalize(p) {
        return c;
    }
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => resolved(parent).join(name),
        _ => abs,
    }
}

impl OutputDir {
    /// Checks `out` against the rules above, takes the lock, removes stale staging
    /// folders and creates a fresh one. `protected` are the config and the inputs.
    pub fn prepare(out: &Path, protected: &[PathBuf]) -> Result<OutputDir> {
        if let Some(msg) = refusal(out) {
            return Err(usage(msg));
        }
        let out = resolved(out);
        let (parent, name) = match (out.parent(), out.file_name()) {
            (Some(p), Some(n)) => (p.to_path_buf(), n.to_string_lossy().into_owned()),
            _ => {
                return Err(usage(format!(
                    "--out {}: the root folder cannot be an output folder",
                    out.display()
                )))
            }
        };
        for p in protected {
            let p = resolved(p);
            if p.starts_with(&out) {
                return Err(usage(format!(
                    "--out {} is or contains {}, which this run reads; choose an output folder beside the exports, e.g. {}",
                    out.display(),
                    p.display(),
                    out.join("out").display()
                )));
            }
        }
        fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
        let lock_path = parent.join(format!(".{name}{LOCK_TAG}"));
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::input(
                    &out,
                    format!(
                        "another idresolve run is writing into this folder (it holds {}); wait for it to finish",
                        lock_path.display()
                    ),
                ))
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let mode = fs::metadata(&out).ok().map(|m| mode_of(&m));
        recover_and_clean(&parent, &name, &out)?;
        let staging = parent.join(format!(".{name}{STAGING_TAG}{}", std::process::id()));
        create_private_dir(&staging)?;
        Ok(OutputDir {
            out,
            parent,
            staging,
            mode,
            _lock: lock,
            committed: false,
        })
    }

    /// The staging folder the run writes into.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// The final folder.
    pub fn path(&self) -> &Path {
        &self.out
    }

    /// Makes the staged outputs durable and swaps them into place in one step.
    pub fn commit(mut self) -> Result<()> {
        // The folder may have changed since the run started: check again.
        if let Some(msg) = refusal(&self.out) {
            return Err(usage(format!(
                "{msg} (it changed while the run was working)"
            )));
        }
        sync_tree(&self.staging)?;
        if let Some(mode) = self.mode {
            set_mode(&self.staging, mode)?;
        }
        sync_dir(&self.staging)?;
        if self.out.exists() {
            match exchange(&self.staging, &self.out) {
                Ok(()) => {
                    // The staging name now holds the previous output.
                    sync_dir(&self.parent)?;
                    let _ = fs::remove_dir_all(&self.staging);
                }
                Err(_) => {
                    // No atomic exchange on this platform or file system: move the
                    // old folder aside, then the new one in; a run killed between the
                    // two is recovered by the next start (`recover_and_clean`).
                    let name = self.out.file_name().unwrap_or_default().to_string_lossy();
                    let old = self
                        .parent
                        .join(format!(".{name}{OLD_TAG}{}", std::process::id()));
                    fs::rename(&self.out, &old).map_err(|e| Error::io(&self.out, e))?;
                    fs::rename(&self.staging, &self.out).map_err(|e| Error::io(&self.out, e))?;
                    sync_dir(&self.parent)?;
                    let _ = fs::remove_dir_all(&old);
                }
            }
        } else {
            fs::rename(&self.staging, &self.out).map_err(|e| Error::io(&self.out, e))?;
            sync_dir(&self.parent)?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// With the lock held, no live run writes beside `out`: staging folders are left-overs
/// of killed runs, and an old output moved aside with no `out` is the last good output.
fn recover_and_clean(parent: &Path, name: &str, out: &Path) -> Result<()> {
    let staging_prefix = format!(".{name}{STAGING_TAG}");
    let old_prefix = format!(".{name}{OLD_TAG}");
    // Earlier versions' names.
    let legacy_tmp = format!(".{name}.tmp-");
    let legacy_old = format!(".{name}.old-");
    let Ok(rd) = fs::read_dir(parent) else {
        return Ok(());
    };
    let mut olds = Vec::new();
    for e in rd.filter_map(|e| e.ok()) {
        let n = e.file_name().to_string_lossy().into_owned();
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if !is_dir {
            continue;
        }
        let pid_tail = |prefix: &str| {
            n.strip_prefix(prefix)
                .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        };
        if pid_tail(&staging_prefix) || pid_tail(&legacy_tmp) {
            let _ = fs::remove_dir_all(e.path());
        } else if pid_tail(&old_prefix) || pid_tail(&legacy_old) {
            olds.push(e.path());
        }
    }
    olds.sort();
    for old in olds {
        if !out.exists() && is_idresolve_output(&old) {
            fs::rename(&old, out).map_err(|e| Error::io(out, e))?;
        } else if is_idresolve_output(&old) {
            let _ = fs::remove_dir_all(&old);
        }
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: two valid NUL-terminated paths; renameat2 does not keep the pointers.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(unix)]
fn mode_of(m: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    m.permissions().mode() & 0o7777
}
#[cfg(not(unix))]
fn mode_of(_m: &fs::Metadata) -> u32 {
    0o700
}

#[cfg(unix)]
fn set_mode(p: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).map_err(|e| Error::io(p, e))
}
#[cfg(not(unix))]
fn set_mode(_p: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

/// Creates a folder readable by its owner only.
pub fn create_private_dir(p: &Path) -> Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(p).map_err(|e| Error::io(p, e))
}

/// Creates (truncating) a file readable by its owner only.
pub fn create_private_file(p: &Path) -> Result<File> {
    private_file(p, false)
}

/// Creates a file readable by its owner only that must not exist yet: for a file beside
/// ones [`link_or_copy`] put there, which is never written through a link.
pub fn create_new_private_file(p: &Path) -> Result<File> {
    private_file(p, true)
}

fn private_file(p: &Path, new: bool) -> Result<File> {
    let mut o = fs::OpenOptions::new();
    if new {
        o.write(true).create_new(true);
    } else {
        o.write(true).create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(p).map_err(|e| Error::io(p, e))
}

/// Writes a whole file, private.
pub fn write_private(p: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = create_private_file(p)?;
    f.write_all(bytes).map_err(|e| Error::io(p, e))
}

/// Writes a value as pretty JSON, private (`model.json`, `run.json`, `state.json`).
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    write_private(path, (text + "\n").as_bytes())
}

/// Puts a file of a finished output (the previous run's) into a staging folder: a hard
/// link where both are on one file system, a copy otherwise. Only for files that no one
/// writes in place once made: an output folder is never written again (a run writes a
/// new one and swaps it in whole), so the link holds the same bytes for as long as
/// either folder lives, and removing either folder leaves the other's file whole.
pub fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(e),
        // Another file system, or links not allowed: a copy.
        Err(_) => fs::copy(from, to).map(|_| ()),
    }
}

/// Whether `m` is a file shared with another folder by [`link_or_copy`]: its mode is
/// the previous output's, left as it is (changing it would change that folder's file).
#[cfg(unix)]
fn linked(m: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    m.nlink() > 1
}
#[cfg(not(unix))]
fn linked(_m: &fs::Metadata) -> bool {
    false
}

/// fsyncs every file below `dir` and makes files 0600 and folders 0700 (files written
/// by the index library come with the process umask); a file linked from the previous
/// output keeps its mode.
fn sync_tree(dir: &Path) -> Result<()> {
    for e in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let p = e.path();
        let ft = e.file_type().map_err(|e| Error::io(&p, e))?;
        if ft.is_dir() {
            set_mode(&p, 0o700)?;
            sync_tree(&p)?;
            sync_dir(&p)?;
        } else if ft.is_file() {
            let m = fs::metadata(&p).map_err(|e| Error::io(&p, e))?;
            if !linked(&m) {
                set_mode(&p, 0o600)?;
            }
            let f = File::open(&p).map_err(|e| Error::io(&p, e))?;
            f.sync_all().map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let f = File::open(dir).map_err(|e| Error::io(dir, e))?;
        f.sync_all().map_err(|e| Error::io(dir, e))?;
    }
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_it_did_not_write() {
        let t = tempfile::tempdir().unwrap();
        let notes = t.path().join("notes");
        fs::create_dir(&notes).unwrap();
        fs::write(notes.join("todo.txt"), "keep me").unwrap();
        let e = OutputDir::prepare(&notes, &[]).unwrap_err().to_string();
        assert!(e.contains("todo.txt"), "{e}");
        let file = t.path().join("file.csv");
        fs::write(&file, "x").unwrap();
        assert!(OutputDir::prepare(&file, &[]).is_err());
        assert!(OutputDir::prepare(Path::new("/dev/null"), &[]).is_err());
        assert_eq!(
            fs::read_to_string(notes.join("todo.txt")).unwrap(),
            "keep me"
        );
    }

    #[test]
    fn an_empty_or_own_folder_is_replaced_atomically() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        let d = OutputDir::prepare(&out, &[]).unwrap();
        fs::write(
            d.staging().join(MARKER),
            format!("{{\"tool\":\"{TOOL}\",\"next_golden_id\":1}}"),
        )
        .unwrap();
        fs::write(d.staging().join("a.csv"), "one").unwrap();
        d.commit().unwrap();
        assert_eq!(fs::read_to_string(out.join("a.csv")).unwrap(), "one");
        let d = OutputDir::prepare(&out, &[]).unwrap();
        fs::write(d.staging().join(MARKER), format!("{{\"tool\":\"{TOOL}\"}}")).unwrap();
        fs::write(d.staging().join("a.csv"), "two").unwrap();
        d.commit().unwrap();
        assert_eq!(fs::read_to_string(out.join("a.csv")).unwrap(), "two");
        let left: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("tmp") || n.contains("old"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_second_run_into_the_same_folder_fails() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        let _first = OutputDir::prepare(&out, &[]).unwrap();
        let e = OutputDir::prepare(&out, &[]).unwrap_err().to_string();
        assert!(e.contains("another idresolve run"), "{e}");
    }

    #[test]
    fn refuses_a_folder_holding_an_input() {
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("resolve.toml");
        fs::write(&cfg, "").unwrap();
        let e = OutputDir::prepare(t.path(), std::slice::from_ref(&cfg)).unwrap_err();
        assert!(e.to_string().contains("resolve.toml"), "{e}");
        assert!(cfg.exists());
    }
}
