//! Which differences between a committed schema and a regenerated one break consumers
//! that still read the committed version: a property removed, a property retyped, a
//! property that became required, a message variant removed. Adding optional
//! properties or new variants is compatible. Both sides are schemars output (JSON Schema
//! 2020-12: `$defs`, `$ref`, `oneOf` for tagged enums).

use serde_json::{Map, Value};

/// Every breaking change from `old` to `new`, each naming where it is.
pub fn breaking_changes(old: &Value, new: &Value) -> Vec<String> {
    let mut found = Vec::new();
    compare(old, new, "#", &mut found);
    let (Some(old_defs), Some(new_defs)) = (defs(old), defs(new)) else {
        return found;
    };
    // A definition that disappeared shows up where it was referenced, as a retype.
    for (name, old_def) in old_defs {
        if let Some(new_def) = new_defs.get(name) {
            compare(old_def, new_def, &format!("#/$defs/{name}"), &mut found);
        }
    }
    found
}

fn defs(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("$defs").and_then(Value::as_object)
}

/// What a value must look like, in the terms a consumer relies on.
fn shape(schema: &Value) -> (Vec<String>, Option<&str>, Option<&Value>) {
    let mut types: Vec<String> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    types.sort();
    let reference = schema.get("$ref").and_then(Value::as_str);
    (types, reference, schema.get("const"))
}

fn compare(old: &Value, new: &Value, at: &str, found: &mut Vec<String>) {
    let (old_shape, new_shape) = (shape(old), shape(new));
    if old_shape != new_shape {
        found.push(format!(
            "{at}: type changed from {} to {}",
            describe(&old_shape),
            describe(&new_shape)
        ));
        return;
    }
    compare_properties(old, new, at, found);
    if let (Some(old_items), Some(new_items)) = (old.get("items"), new.get("items")) {
        compare(old_items, new_items, &format!("{at}/items"), found);
    }
    for keyword in ["oneOf", "anyOf"] {
        if let (Some(Value::Array(old_vs)), Some(Value::Array(new_vs))) =
            (old.get(keyword), new.get(keyword))
        {
            compare_variants(old_vs, new_vs, &format!("{at}/{keyword}"), found);
        }
    }
}

fn describe((types, reference, constant): &(Vec<String>, Option<&str>, Option<&Value>)) -> String {
    match (reference, constant) {
        (Some(r), _) => format!("`{r}`"),
        (None, Some(c)) => format!("const {c}"),
        (None, None) if types.is_empty() => "any".to_owned(),
        (None, None) => format!("`{}`", types.join("|")),
    }
}

fn compare_properties(old: &Value, new: &Value, at: &str, found: &mut Vec<String>) {
    let empty = Map::new();
    let old_props = old
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let new_props = new
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (name, old_prop) in old_props {
        match new_props.get(name) {
            None => found.push(format!("{at}: property `{name}` removed")),
            Some(new_prop) => compare(
                old_prop,
                new_prop,
                &format!("{at}/properties/{name}"),
                found,
            ),
        }
    }
    let required = |schema: &Value| -> Vec<String> {
        schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let was_required = required(old);
    for name in required(new) {
        if !was_required.contains(&name) {
            found.push(format!("{at}: property `{name}` became required"));
        }
    }
}

/// A tagged enum's variants are matched by their tag (`type`, `outcome`, ... as a
/// `const`), or by `$ref`; unmatched old variants were removed.
fn compare_variants(old: &[Value], new: &[Value], at: &str, found: &mut Vec<String>) {
    for (index, old_variant) in old.iter().enumerate() {
        let key = variant_key(old_variant);
        let matched = match &key {
            Some(key) => new.iter().find(|v| variant_key(v).as_ref() == Some(key)),
            // Untagged and unnamed: only position can pair them.
            None => new.get(index),
        };
        match matched {
            Some(new_variant) => compare(old_variant, new_variant, &format!("{at}/{index}"), found),
            None => found.push(format!(
                "{at}: variant {} removed",
                key.unwrap_or_else(|| index.to_string())
            )),
        }
    }
}

fn variant_key(variant: &Value) -> Option<String> {
    if let Some(reference) = variant.get("$ref").and_then(Value::as_str) {
        return Some(reference.to_owned());
    }
    if let Some(constant) = variant.get("const") {
        return Some(constant.to_string());
    }
    let props = variant.get("properties")?.as_object()?;
    props
        .iter()
        .find_map(|(name, p)| p.get("const").map(|c| format!("{name}={c}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::breaking_changes;

    fn message(properties: serde_json::Value, required: &[&str]) -> serde_json::Value {
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": properties,
            "required": required,
        })
    }

    #[test]
    fn a_removed_property_breaks() {
        let old = message(
            json!({"id": {"type": "string"}, "note": {"type": "string"}}),
            &["id"],
        );
        let new = message(json!({"id": {"type": "string"}}), &["id"]);
        let changes = breaking_changes(&old, &new);
        assert_eq!(changes, vec!["#: property `note` removed"]);
    }

    #[test]
    fn a_retyped_property_breaks_even_inside_a_definition() {
        let old = json!({"$ref": "#/$defs/T", "$defs": {"T": message(json!({"n": {"type": "integer"}}), &[])}});
        let new = json!({"$ref": "#/$defs/T", "$defs": {"T": message(json!({"n": {"type": "string"}}), &[])}});
        let changes = breaking_changes(&old, &new);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(
            changes[0].contains("#/$defs/T/properties/n: type changed"),
            "{changes:?}"
        );
    }

    #[test]
    fn a_property_that_became_required_breaks() {
        let old = message(json!({"id": {"type": "string"}}), &[]);
        let new = message(json!({"id": {"type": "string"}}), &["id"]);
        assert_eq!(
            breaking_changes(&old, &new),
            vec!["#: property `id` became required"]
        );
    }

    #[test]
    fn an_added_optional_property_or_variant_is_compatible() {
        let old = json!({"oneOf": [message(json!({"type": {"const": "a"}}), &["type"])]});
        let new = json!({"oneOf": [
            message(json!({"type": {"const": "b"}}), &["type"]),
            message(json!({"type": {"const": "a"}, "extra": {"type": ["string", "null"]}}), &["type"]),
        ]});
        assert_eq!(breaking_changes(&old, &new), Vec::<String>::new());
    }

    #[test]
    fn a_removed_variant_breaks() {
        let old = json!({"oneOf": [
            message(json!({"type": {"const": "a"}}), &["type"]),
            message(json!({"type": {"const": "b"}}), &["type"]),
        ]});
        let new = json!({"oneOf": [message(json!({"type": {"const": "a"}}), &["type"])]});
        let changes = breaking_changes(&old, &new);
        assert_eq!(changes, vec!["#/oneOf: variant type=\"b\" removed"]);
    }
}
