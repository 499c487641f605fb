//! Runs the binary against a scratch file: `--check` must fail on a missing or stale
//! document and pass right after `--write`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{SystemTime, UNIX_EPOCH},
};

struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "loopdesk-openapi-{label}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("openapi.json")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(path: &Path, mode: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loopdesk-openapi"))
        .arg(mode)
        .arg("--path")
        .arg(path)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn check_fails_on_a_missing_file() {
    let scratch = Scratch::new("missing");
    let output = run(&scratch.file(), "--check");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is missing"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_fails_on_a_stale_file_and_write_repairs_it() {
    let scratch = Scratch::new("stale");
    let path = scratch.file();
    assert!(run(&path, "--write").status.success());
    let written = fs::read_to_string(&path).unwrap();
    assert!(run(&path, "--check").status.success());

    // A handler's path changed in the code but not in the committed copy.
    let edited = written.replacen("\"/v1/tickets\"", "\"/v1/tickets_old\"", 1);
    assert_ne!(edited, written, "the edit must change the file");
    fs::write(&path, edited).unwrap();
    let output = run(&path, "--check");
    assert!(!output.status.success());
    assert!(stderr(&output).contains("is stale"), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("make openapi"),
        "{}",
        stderr(&output)
    );

    assert!(run(&path, "--write").status.success());
    assert_eq!(fs::read_to_string(&path).unwrap(), written);
}

#[test]
fn the_document_is_pretty_openapi_3_1_with_a_trailing_newline() {
    let scratch = Scratch::new("format");
    let path = scratch.file();
    assert!(run(&path, "--write").status.success());
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.ends_with("}\n"));
    assert!(text.contains("\n  \"openapi\": \"3.1"), "{}", &text[..200]);
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(doc["paths"]["/v1/tickets"]["post"].is_object());
}
