//! Turning a create request into a valid [`NewTicket`]: every rule is checked and every
//! failure reported at once, naming its field.

use std::collections::BTreeMap;

use loopdesk_contracts::{
    FieldError,
    ids::TicketId,
    tickets::{NewTicket, Priority, Requester},
};
use serde::Deserialize;

/// Longest subject, in characters.
pub const SUBJECT_MAX: usize = 255;
/// Longest description, in characters.
pub const DESCRIPTION_MAX: usize = 65_536;
/// Most tags on a ticket.
pub const TAGS_MAX: usize = 20;
/// Most metadata keys (Stripe's limits).
pub const METADATA_KEYS_MAX: usize = 50;
const METADATA_KEY_MAX: usize = 40;
const METADATA_VALUE_MAX: usize = 500;
const NAME_MAX: usize = 255;
const EMAIL_MAX: usize = 254;
const LABEL_MAX: usize = 64;
const DEFAULT_QUEUE: &str = "general";
const DEFAULT_SOURCE: &str = "api";

/// `POST /v1/tickets` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicketRequest {
    /// One line summary.
    pub subject: Option<String>,
    /// The opening message; `body` is accepted as a synonym.
    #[serde(alias = "body")]
    pub description: Option<String>,
    /// Who the ticket is for.
    pub requester: Option<RequesterInput>,
    /// Urgency (`low`, `normal`, `high`, `urgent`).
    pub priority: Option<Priority>,
    /// Team inbox.
    pub queue: Option<String>,
    /// Labels.
    pub tags: Option<Vec<String>>,
    /// Origin channel.
    pub source: Option<String>,
    /// Integrator-owned string pairs.
    pub metadata: Option<BTreeMap<String, String>>,
    /// A closed ticket this one follows up on.
    pub follow_up_of: Option<String>,
    /// Intervention mode: the intervention's name.
    pub intervention: Option<String>,
    /// Intervention mode: the remote's correlation id.
    pub uid: Option<String>,
    /// Intervention mode: the data bag.
    pub data: Option<serde_json::Value>,
}

/// The requester part of a create request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequesterInput {
    /// Email address.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
}

/// Collects every field error of one request.
#[derive(Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    /// Records a failure of `field`.
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// The errors found, or `Ok` when there are none.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }

    /// A required, trimmed, single-line text of 1..=`max` characters.
    pub fn line(&mut self, field: &str, value: Option<&str>, max: usize) -> String {
        let Some(value) = value else {
            self.fail(field, "is required");
            return String::new();
        };
        let value = value.trim();
        if value.is_empty() {
            self.fail(field, "must not be empty");
        } else if value.chars().count() > max {
            self.fail(field, format!("must be at most {max} characters"));
        } else if value.chars().any(char::is_control) {
            self.fail(field, "must be a single line without control characters");
        }
        value.to_owned()
    }

    /// An optional text of at most `max` characters.
    pub fn text(&mut self, field: &str, value: Option<&str>, max: usize) -> String {
        let value = value.unwrap_or_default();
        if value.chars().count() > max {
            self.fail(field, format!("must be at most {max} characters"));
        }
        value.to_owned()
    }

    /// An email address, lowercased.
    pub fn email(&mut self, field: &str, value: &str) -> String {
        let value = value.trim().to_lowercase();
        if !is_plausible_email(&value) {
            self.fail(field, "must be an email address like `name@example.com`");
        } else if value.len() > EMAIL_MAX {
            self.fail(field, format!("must be at most {EMAIL_MAX} characters"));
        }
        value
    }

    /// A lowercase label of `[a-z0-9_.:-]`, 1..=64 characters.
    pub fn label(&mut self, field: &str, value: &str) -> String {
        let value = value.trim().to_lowercase();
        let valid = !value.is_empty()
            && value.len() <= LABEL_MAX
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.:-".contains(&b));
        if !valid {
            self.fail(
                field,
                format!(
                    "must be 1 to {LABEL_MAX} characters of letters, digits, `_`, `.`, `:` or `-`"
                ),
            );
        }
        value
    }

    /// Tags: labels, de-duplicated in order, at most [`TAGS_MAX`].
    pub fn tags(&mut self, field: &str, value: Option<&[String]>) -> Vec<String> {
        let value = value.unwrap_or_default();
        if value.len() > TAGS_MAX {
            self.fail(field, format!("must have at most {TAGS_MAX} tags"));
            return Vec::new();
        }
        let mut tags: Vec<String> = Vec::with_capacity(value.len());
        for (i, tag) in value.iter().enumerate() {
            let tag = self.label(&format!("{field}[{i}]"), tag);
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        tags
    }

    /// Metadata: at most 50 keys of at most 40 characters, values of at most 500.
    pub fn metadata(
        &mut self,
        field: &str,
        value: Option<BTreeMap<String, String>>,
    ) -> BTreeMap<String, String> {
        let value = value.unwrap_or_default();
        if value.len() > METADATA_KEYS_MAX {
            self.fail(field, format!("must have at most {METADATA_KEYS_MAX} keys"));
        }
        for (key, v) in &value {
            if key.is_empty() || key.chars().count() > METADATA_KEY_MAX {
                self.fail(
                    &format!("{field}.{key}"),
                    format!("keys must be 1 to {METADATA_KEY_MAX} characters"),
                );
            }
            if v.chars().count() > METADATA_VALUE_MAX {
                self.fail(
                    &format!("{field}.{key}"),
                    format!("must be at most {METADATA_VALUE_MAX} characters"),
                );
            }
        }
        value
    }
}

/// One `@`, a non-empty local part, a dotted domain, no spaces: what every mail system
/// agrees on. Deliverability is not ours to judge.
fn is_plausible_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl CreateTicketRequest {
    /// Validates a plain (non-intervention) ticket.
    pub fn into_new_ticket(self) -> Result<NewTicket, Vec<FieldError>> {
        let mut checks = Checks::default();
        if self.intervention.is_some() || self.uid.is_some() || self.data.is_some() {
            checks.fail(
                "intervention",
                "no intervention is defined for this account; create a plain ticket without `intervention`, `uid` and `data`",
            );
        }
        let subject = checks.line("subject", self.subject.as_deref(), SUBJECT_MAX);
        let description = checks.text("description", self.description.as_deref(), DESCRIPTION_MAX);
        let requester = match &self.requester {
            Some(r) => Requester {
                email: checks.email("requester.email", &r.email),
                name: r
                    .name
                    .as_deref()
                    .map(|n| checks.text("requester.name", Some(n.trim()), NAME_MAX))
                    .filter(|n| !n.is_empty()),
            },
            None => {
                checks.fail("requester", "is required");
                Requester {
                    email: String::new(),
                    name: None,
                }
            }
        };
        let queue = checks.label("queue", self.queue.as_deref().unwrap_or(DEFAULT_QUEUE));
        let source = checks.label("source", self.source.as_deref().unwrap_or(DEFAULT_SOURCE));
        let tags = checks.tags("tags", self.tags.as_deref());
        let metadata = checks.metadata("metadata", self.metadata);
        let follow_up_of = self.follow_up_of.and_then(|id| {
            let parsed = id.parse::<TicketId>().ok();
            if parsed.is_none() {
                checks.fail("follow_up_of", "must be a ticket id like `tkt_01J9X...`");
            }
            parsed
        });
        checks.finish(NewTicket {
            id: TicketId::generate(),
            subject,
            description,
            requester,
            priority: self.priority.unwrap_or_default(),
            queue,
            tags,
            source,
            metadata,
            follow_up_of,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn request(json: serde_json::Value) -> CreateTicketRequest {
        serde_json::from_value(json).unwrap()
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_minimal_ticket_gets_defaults() {
        let t = request(serde_json::json!({"subject": " Printer on fire ", "requester": {"email": "Ann@Example.com"}}))
            .into_new_ticket()
            .unwrap();
        assert_eq!(t.subject, "Printer on fire");
        assert_eq!(t.requester.email, "ann@example.com");
        assert_eq!((t.queue.as_str(), t.source.as_str()), ("general", "api"));
        assert_eq!(t.priority, Priority::Normal);
    }

    #[test]
    fn every_invalid_field_is_reported() {
        let errors = request(serde_json::json!({
            "subject": "x".repeat(256),
            "requester": {"email": "not-an-email"},
            "tags": ["ok", "Not OK!"],
            "queue": "",
            "metadata": {"k": "v".repeat(501)},
        }))
        .into_new_ticket()
        .unwrap_err();
        assert_eq!(
            fields(errors),
            [
                "subject",
                "requester.email",
                "queue",
                "tags[1]",
                "metadata.k"
            ]
        );
    }

    #[test]
    fn missing_required_fields_are_named() {
        let errors = request(serde_json::json!({}))
            .into_new_ticket()
            .unwrap_err();
        assert_eq!(fields(errors), ["subject", "requester"]);
    }

    #[test]
    fn emails_are_checked_for_shape() {
        for bad in [
            "a@b",
            "@b.com",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
            "a@b..com",
        ] {
            assert!(!is_plausible_email(bad), "{bad}");
        }
        assert!(is_plausible_email("first.last+tag@sub.example.co.uk"));
    }
}
