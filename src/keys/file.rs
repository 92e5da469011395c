//! The single-node key store: a TOML file of key records (digests only, never keys).
//!
//! Writers (the `keys` commands) replace the file atomically (temp file, fsync, rename, fsync of
//! the folder), so the running gateway, which re-reads it on change, never sees half a file.

use super::index::{IndexError, KeyIndex};
use super::record::{KeyRecord, StoredKey};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default)]
    keys: Vec<StoredKey>,
}

const HEADER: &str = "\
# Stav API keys: only SHA-256 digests of keys are stored here, never keys.
# Managed with `stav-gateway keys create|list|show|rotate|revoke --config <gateway config>`;
# the running gateway reloads this file within a second of a change (and on SIGHUP).
";

pub fn parse(text: &str) -> Result<Vec<StoredKey>, IndexError> {
    let file: KeysFile = toml::from_str(text).map_err(|e| IndexError {
        field: "keys".into(),
        message: e.to_string().trim_end().to_string(),
    })?;
    Ok(file.keys)
}

pub fn index(text: &str) -> Result<KeyIndex, IndexError> {
    KeyIndex::from_stored(&parse(text)?, "keys")
}

/// Read and validate every record (the `keys` commands refuse to touch an invalid file).
pub fn read_records(path: &Path) -> Result<Vec<KeyRecord>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let stored =
        parse(&text).map_err(|e| format!("{}: {}: {}", path.display(), e.field, e.message))?;
    // In the file's order: listings and diffs stay stable.
    super::index::validate_all(&stored, "keys")
        .map_err(|e| format!("{}: {}: {}", path.display(), e.field, e.message))
}

/// Read, change and write the file under an exclusive lock (`.<name>.lock` beside it), so two
/// `keys` commands run at once cannot lose each other's change.
pub fn update<T>(
    path: &Path,
    change: impl FnOnce(&mut Vec<KeyRecord>) -> Result<T, String>,
) -> Result<T, String> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("keys");
    let lock_path = path.with_file_name(format!(".{name}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    let mut all = read_records(path)?;
    let out = change(&mut all)?;
    write_records(path, &all)?;
    Ok(out)
}

pub fn write_records(path: &Path, records: &[KeyRecord]) -> Result<(), String> {
    let file = KeysFile {
        keys: records.iter().map(KeyRecord::to_stored).collect(),
    };
    let body = toml::to_string(&file).map_err(|e| format!("cannot serialise keys: {e}"))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("keys"),
        std::process::id()
    ));
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", tmp.display());
    {
        let mut f = std::fs::File::create(&tmp).map_err(|e| fail("cannot create", e))?;
        f.write_all(HEADER.as_bytes())
            .and_then(|()| f.write_all(b"\n"))
            .and_then(|()| f.write_all(body.as_bytes()))
            .and_then(|()| f.sync_all())
            .map_err(|e| fail("cannot write", e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::admin::{create, NewKey};
    use crate::keys::record::Scope;

    #[test]
    fn written_files_read_back_identically_and_atomically() {
        let dir = std::env::temp_dir().join(format!("stav-keys-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys.toml");
        assert!(
            read_records(&path).unwrap().is_empty(),
            "a missing file is an empty store"
        );
        let spec = NewKey {
            team: "t".into(),
            scopes: vec![Scope::Chat, Scope::ModelsRead],
            models: vec!["qwen3-*".into()],
            allow_ips: vec!["10.0.0.0/8".parse().unwrap()],
            rpm: Some(5),
            expires_in: Some(86400),
            ..NewKey::default()
        };
        let records: Vec<_> = (0..3).map(|i| create(&spec, 1_700_000_000 + i).0).collect();
        write_records(&path, &records).unwrap();
        assert_eq!(read_records(&path).unwrap(), records);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Stav API keys"));
        assert!(index(&text).unwrap().len() == 3);
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_bad_record_names_its_place() {
        let e = index("[[keys]]\nid = \"abcdefghijkl\"\nteam = \"t\"\nscopes = [\"chat\"]\ncreated_at = \"2026-01-01T00:00:00Z\"\nsecrets = [{ sha256 = \"zz\" }]\n").unwrap_err();
        assert_eq!(e.field, "keys[0].secrets[0].sha256");
        let e = index("[[keys]]\nid = 3\n").unwrap_err();
        assert_eq!(e.field, "keys");
    }
}
