//! Prefixed ULIDs (`tkt_01J9X...`): the type and the creation time can be read off
//! the wire, and they sort by creation time.

use std::{fmt, str::FromStr};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// The error for a string that is not a well-formed id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {prefix}_ id")]
pub struct InvalidId {
    /// The prefix that was expected.
    pub prefix: &'static str,
    /// What was given (truncated).
    pub value: String,
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Ulid);

        impl $name {
            /// The prefix this id carries on the wire.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id for the current instant.
            pub fn generate() -> Self {
                Self(Ulid::new())
            }

            /// The ULID without its prefix.
            pub fn ulid(&self) -> Ulid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}_{}", $prefix, self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let invalid = || InvalidId {
                    prefix: $prefix,
                    value: s.chars().take(64).collect(),
                };
                let rest = s
                    .strip_prefix($prefix)
                    .and_then(|r| r.strip_prefix('_'))
                    .ok_or_else(invalid)?;
                if rest.len() != 26 {
                    return Err(invalid());
                }
                Ulid::from_string(rest).map(Self).map_err(|_| invalid())
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.to_string()
            }
        }

        // The wire form is a string with the prefix; the OpenAPI document says so.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "_[0-9A-HJKMNP-TV-Z]{26}$")))
                    .examples([concat!($prefix, "_01J9X6Z3R5T7V9X1Z3B5D7F9H1")])
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "pattern": concat!("^", $prefix, "_[0-9A-HJKMNP-TV-Z]{26}$"),
                })
            }
        }
    };
}

prefixed_id!(
    /// A ticket.
    TicketId, "tkt"
);
prefixed_id!(
    /// A response in a ticket's thread.
    ResponseId, "rsp"
);
prefixed_id!(
    /// A published event.
    EventId, "evt"
);
prefixed_id!(
    /// A queue message (the AMQP `message_id`).
    MessageId, "msg"
);
prefixed_id!(
    /// A webhook endpoint.
    WebhookEndpointId, "whe"
);
prefixed_id!(
    /// One webhook delivery (an event to an endpoint).
    DeliveryId, "dlv"
);
prefixed_id!(
    /// An intervention payload (one instance of an intervention on a ticket).
    InterventionPayloadId, "itv"
);
prefixed_id!(
    /// An epilog callback job.
    EpilogJobId, "epj"
);
prefixed_id!(
    /// An API key (its JWT `jti`).
    KeyId, "key"
);
prefixed_id!(
    /// A field of an intervention definition.
    FieldId, "fld"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_check_their_prefix() {
        let id = TicketId::generate();
        let text = id.to_string();
        assert!(text.starts_with("tkt_"));
        assert_eq!(text.parse::<TicketId>(), Ok(id));
        assert!(text.replacen("tkt", "rsp", 1).parse::<TicketId>().is_err());
        assert!("tkt_".parse::<TicketId>().is_err());
        assert!("tkt_01J9X".parse::<TicketId>().is_err());
    }

    #[test]
    fn ids_serialize_as_prefixed_strings() {
        let id = KeyId::generate();
        let json = serde_json::to_string(&id).unwrap_or_default();
        assert_eq!(json, format!("\"{id}\""));
        assert!(serde_json::from_str::<KeyId>("\"tkt_01ARZ3NDEKTSV4RRFFQ69G5FAV\"").is_err());
    }
}
