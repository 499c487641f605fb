//! The rules a definition and its fields must satisfy. Each check reports every problem
//! it finds, naming the field, so one answer lists everything to fix.

use loopdesk_contracts::{
    FieldError,
    interventions::{FieldType, InterventionField},
};

use crate::definitions::store::DefinitionRow;

/// Most fields a definition may have.
pub const MAX_FIELDS: usize = 100;
const MAX_NAME: usize = 64;
const MAX_TITLE: usize = 255;
const MAX_QUEUE: usize = 64;
const MAX_LABEL: usize = 500;
const MAX_REMOTE_NAME: usize = 100;
const MAX_URL: usize = 2048;
/// Default epilog timeout.
pub const DEFAULT_TIMEOUT_SECONDS: i32 = 30;

/// `^[a-z0-9][a-z0-9_.-]{0,63}$`: the contract name, which also names the templates.
pub fn is_intervention_name(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(b))
}

/// `^[A-Za-z_][A-Za-z0-9_]{0,63}$`: a field's key in the data bag.
fn is_field_name(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NAME
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// A queue name as tickets take it: trimmed and lower-cased.
pub fn normalize_queue(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Problems with a definition's settings (after a create or a patch).
pub fn settings(row: &DefinitionRow) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !is_intervention_name(&row.name) {
        errors.push(FieldError::new(
            "name",
            "must be 1 to 64 characters of lower-case letters, digits, `_`, `.` or `-`, starting with a letter or digit",
        ));
    }
    let title = row.title.trim().chars().count();
    if !(1..=MAX_TITLE).contains(&title) {
        errors.push(FieldError::new(
            "title",
            format!("must be 1 to {MAX_TITLE} characters"),
        ));
    }
    let queue = &row.queue_name;
    if queue.is_empty()
        || queue.len() > MAX_QUEUE
        || !queue
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b))
    {
        errors.push(FieldError::new(
            "queue_name",
            format!("must be 1 to {MAX_QUEUE} characters of letters, digits, `_`, `.`, `:` or `-`"),
        ));
    }
    if let Some(remote) = &row.remote_name {
        let n = remote.trim().chars().count();
        if !(1..=MAX_REMOTE_NAME).contains(&n) {
            errors.push(FieldError::new(
                "remote_name",
                format!("must be 1 to {MAX_REMOTE_NAME} characters"),
            ));
        }
    }
    match &row.remote_epilog_url {
        Some(url) if !is_http_url(url) => errors.push(FieldError::new(
            "remote_epilog_url",
            "must be an absolute http(s) URL",
        )),
        None if row.remote_enabled => errors.push(FieldError::new(
            "remote_epilog_url",
            "is required when `remote_enabled` is true",
        )),
        _ => {}
    }
    if !(1..=120).contains(&row.remote_timeout_seconds) {
        errors.push(FieldError::new(
            "remote_timeout_seconds",
            "must be between 1 and 120",
        ));
    }
    errors
}

fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    url.len() <= MAX_URL
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        && host.is_some_and(|h| !h.is_empty() && !h.starts_with(':') && !h.contains('@'))
}

/// Problems with one field; `at` is its path in the request (`""` for a single field,
/// `fields[3].` in a list).
pub fn field(at: &str, field: &InterventionField) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let path = |member: &str| format!("{at}{member}");
    let named = matches!(field.kind, FieldType::Text | FieldType::Checkbox);
    match (&field.name, named) {
        (None, true) => errors.push(FieldError::new(
            path("name"),
            format!("is required for `{}` fields", field.kind.as_str()),
        )),
        (Some(name), true) if !is_field_name(name) => errors.push(FieldError::new(
            path("name"),
            "must be 1 to 64 characters of letters, digits or `_`, not starting with a digit",
        )),
        (Some(_), false) => errors.push(FieldError::new(
            path("name"),
            format!("is not allowed on `{}` fields", field.kind.as_str()),
        )),
        _ => {}
    }
    match &field.label {
        Some(_) if field.kind == FieldType::Hr => errors.push(FieldError::new(
            path("label"),
            "is not allowed on `hr` fields",
        )),
        Some(label) if label.chars().count() > MAX_LABEL => errors.push(FieldError::new(
            path("label"),
            format!("must be at most {MAX_LABEL} characters"),
        )),
        _ => {}
    }
    match field.width_px {
        Some(_) if field.kind != FieldType::Text => errors.push(FieldError::new(
            path("width_px"),
            "is only allowed on `text` fields",
        )),
        Some(w) if !(20..=2000).contains(&w) => errors.push(FieldError::new(
            path("width_px"),
            "must be between 20 and 2000",
        )),
        _ => {}
    }
    if field.required && !named {
        errors.push(FieldError::new(
            path("required"),
            "is only meaningful on `text` and `checkbox` fields",
        ));
    }
    errors
}

/// Problems with a whole list: each field, unique names, and the count. `listed` says
/// whether paths index into a request list (`fields[i].`) or name a single field.
pub fn fields(list: &[InterventionField], listed: bool) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if list.len() > MAX_FIELDS {
        errors.push(FieldError::new(
            "fields",
            format!("must hold at most {MAX_FIELDS} fields"),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, f) in list.iter().enumerate() {
        let at = if listed {
            format!("fields[{i}].")
        } else {
            String::new()
        };
        errors.extend(field(&at, f));
        if let Some(name) = &f.name
            && !seen.insert(name.as_str())
        {
            errors.push(FieldError::new(
                format!("{at}name"),
                format!("`{name}` is already the name of another field"),
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use loopdesk_contracts::ids::FieldId;

    use super::*;

    fn f(
        kind: FieldType,
        name: Option<&str>,
        label: Option<&str>,
        width: Option<i32>,
    ) -> InterventionField {
        InterventionField {
            id: FieldId::generate(),
            kind,
            name: name.map(str::to_owned),
            label: label.map(str::to_owned),
            width_px: width,
            required: false,
            ordinal: 0,
        }
    }

    #[test]
    fn names_follow_the_contract_pattern() {
        assert!(is_intervention_name("discount_request"));
        assert!(is_intervention_name("0a.b-c"));
        assert!(!is_intervention_name("Discount"));
        assert!(!is_intervention_name("_x"));
        assert!(!is_intervention_name(""));
        assert!(!is_intervention_name(&"a".repeat(65)));
    }

    #[test]
    fn field_rules_name_the_offending_member() {
        let list = vec![
            f(
                FieldType::Text,
                Some("price"),
                Some("Price in {{currency}}"),
                Some(120),
            ),
            f(FieldType::Checkbox, None, None, None),
            f(FieldType::Label, Some("x"), Some("hi"), None),
            f(FieldType::Hr, None, Some("no"), Some(50)),
            f(FieldType::Text, Some("price"), None, Some(5)),
        ];
        let errors: Vec<String> = fields(&list, true).into_iter().map(|e| e.field).collect();
        assert_eq!(
            errors,
            [
                "fields[1].name",
                "fields[2].name",
                "fields[3].label",
                "fields[3].width_px",
                "fields[4].width_px",
                "fields[4].name",
            ]
        );
        assert!(fields(&list[..1], true).is_empty());
    }
}
