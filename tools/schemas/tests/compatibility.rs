//! The compatibility gate end to end: crafted committed/generated schema pairs in a
//! scratch directory, through `check_with`/`write_with`, and the real binary refusing a
//! breaking edit of a committed file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    fs,
    path::PathBuf,
    process::Command,
    time::{SystemTime, UNIX_EPOCH},
};

use loopdesk_schemas::{Drift, check_with, write_with};
use serde_json::{Value, json};

struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "loopdesk-compat-{label}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn put(&self, name: &str, schema: &Value) {
        fs::write(self.0.join(name), text(schema)).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn text(schema: &Value) -> String {
    let mut t = serde_json::to_string_pretty(schema).unwrap();
    t.push('\n');
    t
}

fn event(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}

fn v1() -> Value {
    event(
        json!({"id": {"type": "string"}, "sequence": {"type": "integer"}}),
        &["id", "sequence"],
    )
}

fn generated(pairs: &[(&str, &Value)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, schema)| ((*name).to_owned(), text(schema)))
        .collect()
}

#[test]
fn a_removed_field_is_refused_and_nothing_is_written() {
    let dir = Scratch::new("removed");
    dir.put("thing.event.v1.json", &v1());
    let new = event(json!({"id": {"type": "string"}}), &["id"]);
    let expected = generated(&[("thing.event.v1.json", &new)]);

    let drift = write_with(&dir.0, &expected).unwrap();
    assert!(
        matches!(&drift[..], [Drift::Breaking { file, changes }]
            if file == "thing.event.v1.json" && changes[0].contains("`sequence` removed")),
        "{drift:?}"
    );
    let kept = fs::read_to_string(dir.0.join("thing.event.v1.json")).unwrap();
    assert_eq!(
        kept,
        text(&v1()),
        "a refused write must leave the file alone"
    );
}

#[test]
fn a_retyped_field_is_refused() {
    let dir = Scratch::new("retyped");
    dir.put("thing.event.v1.json", &v1());
    let new = event(
        json!({"id": {"type": "string"}, "sequence": {"type": "string"}}),
        &["id", "sequence"],
    );
    let drift = check_with(&dir.0, &generated(&[("thing.event.v1.json", &new)])).unwrap();
    assert!(
        matches!(&drift[..], [Drift::Breaking { changes, .. }] if changes[0].contains("sequence: type changed")),
        "{drift:?}"
    );
}

#[test]
fn an_added_optional_field_is_only_stale_and_written() {
    let dir = Scratch::new("added");
    dir.put("thing.event.v1.json", &v1());
    let new = event(
        json!({"id": {"type": "string"}, "sequence": {"type": "integer"}, "note": {"type": "string"}}),
        &["id", "sequence"],
    );
    let expected = generated(&[("thing.event.v1.json", &new)]);
    assert_eq!(
        write_with(&dir.0, &expected).unwrap(),
        vec![Drift::Stale("thing.event.v1.json".to_owned())]
    );
    assert!(check_with(&dir.0, &expected).unwrap().is_empty());
}

#[test]
fn a_bumped_version_passes_and_keeps_the_old_file() {
    let dir = Scratch::new("bumped");
    dir.put("thing.event.v1.json", &v1());
    let v2 = event(json!({"id": {"type": "string"}}), &["id"]);
    let expected = generated(&[("thing.event.v2.json", &v2)]);

    assert_eq!(
        write_with(&dir.0, &expected).unwrap(),
        vec![Drift::Missing("thing.event.v2.json".to_owned())]
    );
    assert!(check_with(&dir.0, &expected).unwrap().is_empty());
    assert!(
        dir.0.join("thing.event.v1.json").exists(),
        "v1 stays for its consumers"
    );
    // An older file of a stream that is no longer generated at all is still extra.
    dir.put("gone.event.v1.json", &v1());
    assert_eq!(
        check_with(&dir.0, &expected).unwrap(),
        vec![Drift::Extra("gone.event.v1.json".to_owned())]
    );
}

#[test]
fn the_binary_refuses_a_breaking_change_to_the_real_schemas() {
    let dir = Scratch::new("binary");
    let run = |mode: &str| {
        Command::new(env!("CARGO_BIN_EXE_loopdesk-schemas"))
            .arg(mode)
            .arg("--dir")
            .arg(&dir.0)
            .output()
            .unwrap()
    };
    assert!(run("--write").status.success());
    // The committed copy has a field the code no longer generates: as if it was removed.
    let path = dir.0.join("ticket.event.v1.json");
    let mut committed: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    committed["properties"]["legacy_field"] = json!({"type": "string"});
    fs::write(&path, text(&committed)).unwrap();

    for mode in ["--check", "--write"] {
        let output = run(mode);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{mode} must fail");
        assert!(
            stderr.contains("breaking: ticket.event.v1.json")
                && stderr.contains("`legacy_field` removed"),
            "{mode}: {stderr}"
        );
    }
}
