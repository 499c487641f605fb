//! Runs the binary against a scratch directory: `--check` must fail on every kind of
//! drift and pass right after `--write`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{SystemTime, UNIX_EPOCH},
};

/// A scratch directory removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "loopdesk-schemas-{label}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(dir: &Path, mode: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loopdesk-schemas"))
        .arg(mode)
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn written(label: &str) -> Scratch {
    let scratch = Scratch::new(label);
    assert!(run(&scratch.0, "--write").status.success());
    let check = run(&scratch.0, "--check");
    assert!(check.status.success(), "{}", stderr(&check));
    scratch
}

#[test]
fn check_fails_on_an_empty_directory_listing_every_file() {
    let scratch = Scratch::new("empty");
    let output = run(&scratch.0, "--check");
    assert!(!output.status.success());
    let message = stderr(&output);
    for (name, _) in loopdesk_schemas::rendered().unwrap() {
        assert!(message.contains(&format!("missing: {name}")), "{message}");
    }
}

#[test]
fn check_fails_on_a_stale_file_and_write_repairs_it() {
    let scratch = written("stale");
    let path = scratch.0.join("ticket.event.v1.json");
    let original = fs::read_to_string(&path).unwrap();
    // A compatible edit (a breaking one is refused instead: tests/compatibility.rs).
    let edited = original.replace("\"title\": \"TicketEvent\"", "\"title\": \"OldTitle\"");
    assert_ne!(edited, original, "the edit must change the file");
    fs::write(&path, edited).unwrap();

    let output = run(&scratch.0, "--check");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("stale:   ticket.event.v1.json"),
        "{}",
        stderr(&output)
    );

    assert!(run(&scratch.0, "--write").status.success());
    assert_eq!(fs::read_to_string(&path).unwrap(), original);
    assert!(run(&scratch.0, "--check").status.success());
}

#[test]
fn check_fails_on_an_extra_json_file_but_ignores_other_files() {
    let scratch = written("extra");
    fs::write(scratch.0.join("README.md"), "notes\n").unwrap();
    assert!(run(&scratch.0, "--check").status.success());

    fs::write(scratch.0.join("ticket.gone.v1.json"), "{}\n").unwrap();
    let output = run(&scratch.0, "--check");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("extra:   ticket.gone.v1.json"),
        "{}",
        stderr(&output)
    );

    assert!(run(&scratch.0, "--write").status.success());
    assert!(!scratch.0.join("ticket.gone.v1.json").exists());
    assert!(scratch.0.join("README.md").exists());
}

#[test]
fn written_files_are_pretty_and_end_with_a_newline() {
    let scratch = written("format");
    for (name, _) in loopdesk_schemas::rendered().unwrap() {
        let text = fs::read_to_string(scratch.0.join(name)).unwrap();
        assert!(text.ends_with("}\n"), "{name}");
        assert!(text.contains("\n  \""), "{name} is not pretty-printed");
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
    }
}
