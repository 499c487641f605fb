//! Label tokens (seed §3.2, §5.3): `{{currency}}` in a field's label is replaced with
//! the value found in the data bag. This is plain replacement, not a template: a token
//! with no value stays visible as written, and nothing here can fail.

use serde_json::Value;

/// `label` with every `{{token}}` that has a value in `bag` replaced by it.
pub fn resolve(label: &str, bag: &Value) -> String {
    let mut out = String::with_capacity(label.len());
    let mut rest = label;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            rest = &rest[start..];
            break;
        };
        let token = &rest[start..start + 2 + end + 2];
        match lookup(bag, after[..end].trim()) {
            Some(value) => out.push_str(&value),
            None => out.push_str(token),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The text of `token` (a key or dotted path): first from the bag's top level, then
/// from its nested `data` object (the seed's example shape).
fn lookup(bag: &Value, token: &str) -> Option<String> {
    if token.is_empty() {
        return None;
    }
    path(bag, token)
        .or_else(|| bag.get("data").and_then(|nested| path(nested, token)))
        .and_then(text)
}

fn path<'a>(mut value: &'a Value, dotted: &str) -> Option<&'a Value> {
    for part in dotted.split('.') {
        value = match value {
            Value::Object(map) => map.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(value.to_string()),
        Value::Array(_) | Value::Object(_) => Some(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn resolves_top_level_nested_and_dotted_tokens() {
        let bag = json!({
            "title": "T",
            "data": {"currency": "GBP", "order_price": 100, "customer": {"name": "Ann"}}
        });
        assert_eq!(
            resolve("Price in {{currency}} ({{ order_price }})", &bag),
            "Price in GBP (100)"
        );
        assert_eq!(resolve("{{title}}/{{customer.name}}", &bag), "T/Ann");
        assert_eq!(resolve("{{data.currency}}", &bag), "GBP");
    }

    #[test]
    fn missing_tokens_stay_visible() {
        let bag = json!({"data": {"currency": "GBP"}});
        assert_eq!(
            resolve("{{missing}} {{currency}} {{}} {{unclosed", &bag),
            "{{missing}} GBP {{}} {{unclosed"
        );
        assert_eq!(resolve("no tokens", &json!(null)), "no tokens");
    }
}
