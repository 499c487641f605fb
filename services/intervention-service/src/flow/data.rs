//! A submitted data bag checked against the definition's fields: a checkbox holds a
//! boolean, a text a string, a required field is present and not empty. Keys without a
//! field are kept as they are: the remote may need them back.

use loopdesk_contracts::{
    FieldError,
    interventions::{FieldType, InterventionField},
};
use serde_json::Value;

/// Every problem of `data` against `fields`, each naming `data.{field}`.
pub fn check(fields: &[InterventionField], data: &Value) -> Vec<FieldError> {
    let Some(bag) = data.as_object() else {
        return vec![FieldError::new("data", "must be a JSON object")];
    };
    let mut errors = Vec::new();
    for field in fields {
        let Some(name) = field.name.as_deref() else {
            continue;
        };
        let path = format!("data.{name}");
        let value = bag.get(name).filter(|v| !v.is_null());
        match (field.kind, value) {
            (FieldType::Checkbox, Some(v)) if !v.is_boolean() => {
                errors.push(FieldError::new(&path, "must be true or false"));
            }
            (FieldType::Text, Some(v)) if !v.is_string() => {
                errors.push(FieldError::new(&path, "must be a string"));
            }
            (FieldType::Text, Some(Value::String(s))) if field.required && s.trim().is_empty() => {
                errors.push(FieldError::new(&path, "is required"));
            }
            (FieldType::Text | FieldType::Checkbox, None) if field.required => {
                errors.push(FieldError::new(&path, "is required"));
            }
            _ => {}
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use loopdesk_contracts::ids::FieldId;
    use serde_json::json;

    use super::*;

    fn field(kind: FieldType, name: &str, required: bool) -> InterventionField {
        InterventionField {
            id: FieldId::generate(),
            kind,
            name: Some(name.to_owned()),
            label: None,
            width_px: None,
            required,
            ordinal: 0,
        }
    }

    fn named(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn types_and_required_fields_are_checked() {
        let fields = [
            field(FieldType::Checkbox, "accept", false),
            field(FieldType::Text, "note", true),
            field(FieldType::Text, "reference", false),
        ];
        let ok = json!({"accept": true, "note": "fine", "extra": [1]});
        assert!(check(&fields, &ok).is_empty());
        let bad = json!({"accept": "yes", "reference": 5});
        assert_eq!(
            named(check(&fields, &bad)),
            ["data.accept", "data.note", "data.reference"]
        );
        let blank = json!({"note": "  "});
        assert_eq!(named(check(&fields, &blank)), ["data.note"]);
        assert_eq!(named(check(&fields, &json!([1]))), ["data"]);
    }
}
