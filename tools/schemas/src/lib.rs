//! Keeps `proto-schemas/` in step with `loopdesk-contracts`: renders every message
//! schema, writes the files, or reports how the committed files drifted from the code.
//! Only `*.json` files directly in the directory are managed; anything else (the
//! README) is left alone. A change that would break consumers of a committed version
//! (see [`compat`]) is refused: it needs a new `.vN.json` beside the old one.

pub mod compat;

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt, fs, io,
    path::{Path, PathBuf},
};

/// `proto-schemas/` of the workspace this tool was built from.
pub const DEFAULT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto-schemas");

/// How one file differs from what the contracts generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The file exists but its content is not the generated one.
    Stale(String),
    /// A schema has no file.
    Missing(String),
    /// A `.json` file no schema generates (a renamed or removed message).
    Extra(String),
    /// The file's committed version would change incompatibly: refused, whether checking
    /// or writing, until the stream's version is bumped.
    Breaking {
        /// The committed file.
        file: String,
        /// What breaks, one entry per change.
        changes: Vec<String>,
    },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Stale(name) => write!(f, "stale:   {name}"),
            Drift::Missing(name) => write!(f, "missing: {name}"),
            Drift::Extra(name) => write!(f, "extra:   {name}"),
            Drift::Breaking { file, changes } => {
                write!(
                    f,
                    "breaking: {file} (keep it and add the next .vN.json instead):"
                )?;
                for change in changes {
                    write!(f, "\n    {change}")?;
                }
                Ok(())
            }
        }
    }
}

/// Why the schemas could not be rendered, read or written.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A schema did not serialize.
    #[error("rendering {file}: {source}")]
    Render {
        /// The schema's file name.
        file: &'static str,
        /// The cause.
        source: serde_json::Error,
    },
    /// A file or the directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// What was being read or written.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SchemaError + '_ {
    move |source| SchemaError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Every schema file's expected content, by file name: pretty-printed JSON with a
/// trailing newline, so diffs stay readable and editors leave the files alone.
pub fn rendered() -> Result<BTreeMap<&'static str, String>, SchemaError> {
    loopdesk_contracts::schemas::all()
        .into_iter()
        .map(|(file, schema)| {
            let mut text = serde_json::to_string_pretty(&schema)
                .map_err(|source| SchemaError::Render { file, source })?;
            text.push('\n');
            Ok((file, text))
        })
        .collect()
}

/// The `.json` files currently in `dir`; none when it does not exist yet.
fn existing_files(dir: &Path) -> Result<BTreeSet<String>, SchemaError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(io_error(dir)(e)),
    };
    let mut names = BTreeSet::new();
    for entry in entries {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && entry.path().is_file() {
            names.insert(name);
        }
    }
    Ok(names)
}

/// Compares `dir` with the generated schemas; an empty answer means no drift.
pub fn check(dir: &Path) -> Result<Vec<Drift>, SchemaError> {
    check_with(dir, &owned(rendered()?))
}

/// Makes `dir` match the generated schemas: writes missing and stale files, removes
/// extra `.json` files, and returns what it changed. Refuses (changing nothing) when a
/// change is breaking.
pub fn write(dir: &Path) -> Result<Vec<Drift>, SchemaError> {
    write_with(dir, &owned(rendered()?))
}

fn owned(rendered: BTreeMap<&'static str, String>) -> BTreeMap<String, String> {
    rendered
        .into_iter()
        .map(|(name, text)| (name.to_owned(), text))
        .collect()
}

/// `{stream}.v{version}.json` split into its stream and version.
fn stream_version(name: &str) -> Option<(&str, u32)> {
    let (stream, version) = name.strip_suffix(".json")?.rsplit_once(".v")?;
    Some((stream, version.parse().ok()?))
}

/// An older version of a stream that is generated at a newer one: consumers may still
/// read it, so it stays, frozen.
fn superseded(name: &str, expected: &BTreeMap<String, String>) -> bool {
    let Some((stream, version)) = stream_version(name) else {
        return false;
    };
    expected
        .keys()
        .any(|generated| stream_version(generated).is_some_and(|(s, v)| s == stream && v > version))
}

/// [`check`] against the given `(file name, content)` pairs instead of the contracts.
pub fn check_with(
    dir: &Path,
    expected: &BTreeMap<String, String>,
) -> Result<Vec<Drift>, SchemaError> {
    let existing = existing_files(dir)?;
    let mut drift = Vec::new();
    for (file, text) in expected {
        if !existing.contains(file) {
            drift.push(Drift::Missing(file.clone()));
            continue;
        }
        let path = dir.join(file);
        let current = fs::read_to_string(&path).map_err(io_error(&path))?;
        if current == *text {
            continue;
        }
        let changes = match (
            serde_json::from_str::<serde_json::Value>(&current),
            serde_json::from_str::<serde_json::Value>(text),
        ) {
            (Ok(old), Ok(new)) => compat::breaking_changes(&old, &new),
            // An unreadable committed file holds no contract anyone can rely on.
            _ => Vec::new(),
        };
        if changes.is_empty() {
            drift.push(Drift::Stale(file.clone()));
        } else {
            drift.push(Drift::Breaking {
                file: file.clone(),
                changes,
            });
        }
    }
    for name in existing {
        if !expected.contains_key(&name) && !superseded(&name, expected) {
            drift.push(Drift::Extra(name));
        }
    }
    Ok(drift)
}

/// [`write`] with the given `(file name, content)` pairs instead of the contracts.
pub fn write_with(
    dir: &Path,
    expected: &BTreeMap<String, String>,
) -> Result<Vec<Drift>, SchemaError> {
    let drift = check_with(dir, expected)?;
    if drift.is_empty() || drift.iter().any(|d| matches!(d, Drift::Breaking { .. })) {
        return Ok(drift);
    }
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    for change in &drift {
        match change {
            Drift::Stale(name) | Drift::Missing(name) => {
                let path = dir.join(name);
                let text = expected
                    .get(name.as_str())
                    .map(String::as_str)
                    .unwrap_or_default();
                fs::write(&path, text).map_err(io_error(&path))?;
            }
            Drift::Extra(name) => {
                let path = dir.join(name);
                fs::remove_file(&path).map_err(io_error(&path))?;
            }
            Drift::Breaking { .. } => {}
        }
    }
    Ok(drift)
}
