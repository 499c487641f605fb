//! Templates `{name}.private|public|final` (seed §7), rendered with minijinja: HTML
//! autoescaped, undefined values render as nothing (never an error).
//!
//! Binding, as the seed's `setData(...)` calls: on create, the data bag's top-level keys
//! are variables, and `data` is the bag's nested `data` object when it has one (the
//! seed's example shape), else the bag itself, so `{{ data.currency }}` works for both
//! shapes. On completion the only variable is `final`.

use loopdesk_contracts::interventions::TemplateKind;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, value::Serde};

/// A template that does not compile or render, with the engine's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// The engine's explanation, with the line when known.
    pub message: String,
    /// 1-based line of the problem.
    pub line: Option<usize>,
}

impl From<minijinja::Error> for TemplateError {
    fn from(e: minijinja::Error) -> Self {
        let line = e.line();
        let what = e
            .detail()
            .map_or_else(|| e.kind().to_string(), str::to_owned);
        let message = match line {
            Some(line) => format!("{what} (line {line})"),
            None => what,
        };
        Self { message, line }
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    // Chainable: `{{ data.missing.deeper }}` renders empty instead of failing.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env
}

/// Checks that `body` compiles (done when a template is stored).
pub fn compile(body: &str) -> Result<(), TemplateError> {
    environment().template_from_str(body)?;
    Ok(())
}

/// The variables a template of `kind` sees: for private/public, `bag` is the remote's
/// data bag; for final, it is the remote's `final` object.
pub fn context(kind: TemplateKind, bag: &serde_json::Value) -> serde_json::Value {
    match kind {
        TemplateKind::Final => serde_json::json!({ "final": bag }),
        TemplateKind::Private | TemplateKind::Public => {
            let mut vars = match bag {
                serde_json::Value::Object(map) => map.clone(),
                _ => serde_json::Map::new(),
            };
            let data = match bag.get("data") {
                Some(nested @ serde_json::Value::Object(_)) => nested.clone(),
                _ => bag.clone(),
            };
            vars.insert("data".to_owned(), data);
            serde_json::Value::Object(vars)
        }
    }
}

/// Renders template `body` of `kind` against `bag` (see [`context`]).
pub fn render(
    kind: TemplateKind,
    body: &str,
    bag: &serde_json::Value,
) -> Result<String, TemplateError> {
    let env = environment();
    let template = env.template_from_str(body)?;
    Ok(template.render(Serde(context(kind, bag)))?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn seed_bag() -> serde_json::Value {
        json!({
            "data": {"currency": "GBP", "order_price": 100, "accept": false},
            "title": "Discount <b>please</b>"
        })
    }

    #[test]
    fn create_binds_the_bag_and_its_nested_data() {
        let out = render(
            TemplateKind::Private,
            "{{ title }}: {{ data.order_price }} {{ data.currency }}",
            &seed_bag(),
        )
        .unwrap();
        assert_eq!(out, "Discount &lt;b&gt;please&lt;&#x2f;b&gt;: 100 GBP");
        let flat = json!({"currency": "EUR"});
        let out = render(TemplateKind::Public, "{{ data.currency }}", &flat).unwrap();
        assert_eq!(out, "EUR");
    }

    #[test]
    fn values_are_html_escaped() {
        let bag = json!({"data": {"note": "<script>alert(1)</script>"}});
        let out = render(TemplateKind::Private, "<p>{{ data.note }}</p>", &bag).unwrap();
        assert!(!out.contains("<script>"), "{out}");
        assert!(out.starts_with("<p>&lt;script&gt;"), "{out}");
    }

    #[test]
    fn missing_values_render_empty() {
        let out = render(
            TemplateKind::Private,
            "[{{ data.nope }}][{{ data.nope.deeper }}][{{ final }}]",
            &seed_bag(),
        )
        .unwrap();
        assert_eq!(out, "[][][]");
    }

    #[test]
    fn final_binds_final_only() {
        let fin = json!({"ticket_audit": "approved", "applied_price": 95});
        let out = render(
            TemplateKind::Final,
            "{{ final.ticket_audit }} at {{ final.applied_price }}{{ data.currency }}",
            &fin,
        )
        .unwrap();
        assert_eq!(out, "approved at 95");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let err = compile("line one\n{% if data.x %}never closed").unwrap_err();
        assert_eq!(err.line, Some(2), "{err:?}");
        assert!(err.message.contains("line 2"), "{}", err.message);
        assert!(compile("{{ data.currency }} {% if final %}x{% endif %}").is_ok());
    }
}
