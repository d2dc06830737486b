//! The metadata file (spec 4.11), written so that a `kill -9` at any moment leaves either the
//! old or the new file, never a torn one: write a temp file in the same directory, fsync it,
//! rename it over the target, fsync the directory (so the rename itself is durable).

use crate::store::{self, MetaStore, StoreError, META_VERSION};
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes `store` to `path` atomically and durably.
///
/// # Errors
/// `PERSISTENCE_JSON_ERROR` if encoding fails, `PERSISTENCE_IO_ERROR` for any I/O failure.
pub fn write_atomic(path: &Path, store: &MetaStore) -> Result<(), StoreError> {
    let data = serde_json::to_vec(store).map_err(|e| StoreError::PersistenceJson(e.to_string()))?;
    let io = |what: &str, e: std::io::Error| {
        StoreError::PersistenceIo(format!("{what} {}: {e}", path.display()))
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "metadata".into());
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}-{nanos}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp).map_err(|e| io("create temp file for", e))?;
        f.write_all(&data)
            .map_err(|e| io("write temp file for", e))?;
        f.sync_all().map_err(|e| io("fsync temp file for", e))?;
        fs::rename(&tmp, path).map_err(|e| io("rename temp file onto", e))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("fsync directory of", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Loads the file: `Ok(None)` when it does not exist.
///
/// # Errors
/// A message naming the file when it is unreadable, not valid JSON, of another version, or
/// inconsistent. Never a silent empty store.
pub fn load(path: &Path) -> Result<Option<MetaStore>, String> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read metadata file {}: {e}", path.display())),
    };
    let store: MetaStore = serde_json::from_slice(&data).map_err(|e| {
        format!(
            "metadata file {} is not valid metadata JSON: {e}",
            path.display()
        )
    })?;
    if store.version != META_VERSION {
        return Err(format!(
            "metadata file {} has version `{}`, expected `{META_VERSION}`",
            path.display(),
            store.version
        ));
    }
    store::validate(&store)
        .map_err(|e| format!("metadata file {} is inconsistent: {e}", path.display()))?;
    Ok(Some(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_missing_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metadata");
        assert_eq!(load(&p).unwrap(), None);
        let mut s = MetaStore::new(false);
        s.global_epoch = 42;
        write_atomic(&p, &s).unwrap();
        assert_eq!(load(&p).unwrap(), Some(s));
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
        fs::write(&p, b"{\"version\":").unwrap();
        let e = load(&p).unwrap_err();
        assert!(e.contains(&p.display().to_string()), "{e}");
        fs::write(&p, br#"{"version":"x","global_epoch":0,"clusters":{},"all_proxies":{},"failed_proxies":[],"failures":{},"enable_ordered_proxy":false}"#).unwrap();
        assert!(load(&p).unwrap_err().contains("version"));
    }
}
