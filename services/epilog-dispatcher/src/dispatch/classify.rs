//! What one attempt's answer means (seed §5.5): `2xx {"ok": true}` is success and its
//! `final`, if any, must match the job; network errors, timeouts, 5xx and 429 are
//! retried; anything else is a permanent failure. A 2xx whose body is not
//! `{"ok": true, ...}` is permanent too: the remote answered, and asking again would
//! only repeat a decision it has already made.

use std::time::Duration;

use loopdesk_contracts::epilogs::FinalReply;
use serde_json::Value;

/// How an attempt ended, before classification.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Outbound safety refused the address; nothing was sent.
    Refused(String),
    /// Nothing was sent and asking again cannot help (no such definition, remote off).
    NotSent(String),
    /// Nothing usable came back: network error, timeout, settings unavailable.
    Failed(String),
    /// The remote answered.
    Answered {
        /// HTTP status.
        status: u16,
        /// The body (bounded).
        body: Vec<u8>,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
    },
}

/// What follows an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Done: the remote answered `ok`; its final, if any, passed the checks.
    Succeeded(Option<FinalReply>),
    /// Try again later (not before `retry_after`, if given).
    Retry {
        /// What went wrong.
        error: String,
        /// The remote's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Give up now.
    Failed(String),
    /// The remote answered `ok` but its final failed the checks; not retried.
    Rejected(String),
}

impl Verdict {
    /// The error to record on the attempt, if it did not succeed.
    pub fn error(&self) -> Option<&str> {
        match self {
            Verdict::Succeeded(_) => None,
            Verdict::Retry { error, .. } => Some(error),
            Verdict::Failed(reason) | Verdict::Rejected(reason) => Some(reason),
        }
    }
}

/// What the remote's answer must echo.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The job's ticket id.
    pub ticket_id: &'a str,
    /// The job's uid.
    pub uid: &'a str,
    /// The job's intervention name.
    pub intervention: &'a str,
    /// The initiating response.
    pub response_id: &'a str,
}

/// Classifies one attempt's answer.
pub fn classify(answer: &Answer, expected: &Expected<'_>) -> Verdict {
    match answer {
        Answer::Refused(reason) => Verdict::Retry {
            error: format!("refused: {reason}"),
            retry_after: None,
        },
        Answer::NotSent(reason) => Verdict::Failed(reason.clone()),
        Answer::Failed(error) => Verdict::Retry {
            error: error.clone(),
            retry_after: None,
        },
        Answer::Answered {
            status,
            body,
            retry_after,
        } => match status {
            200..=299 => on_success(body, expected),
            429 | 500..=599 => Verdict::Retry {
                error: format!("the remote answered {status}"),
                retry_after: *retry_after,
            },
            300..=399 => Verdict::Failed(format!(
                "the remote answered {status}; redirects are not followed"
            )),
            _ => Verdict::Failed(format!("the remote answered {status}")),
        },
    }
}

fn on_success(body: &[u8], expected: &Expected<'_>) -> Verdict {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Verdict::Failed("the remote answered 2xx without a JSON object".to_owned());
    };
    if body.get("ok") != Some(&Value::Bool(true)) {
        return Verdict::Failed("the remote answered 2xx without \"ok\": true".to_owned());
    }
    match body.get("final") {
        None | Some(Value::Null) => Verdict::Succeeded(None),
        Some(Value::Object(fin)) => match check_final(&body, fin, expected) {
            Ok(reply) => Verdict::Succeeded(Some(reply)),
            Err(reason) => Verdict::Rejected(reason),
        },
        Some(_) => Verdict::Rejected("`final` must be an object".to_owned()),
    }
}

fn check_final(
    body: &serde_json::Map<String, Value>,
    fin: &serde_json::Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<FinalReply, String> {
    for (key, want) in [
        ("ticket_id", expected.ticket_id),
        ("uid", expected.uid),
        ("intervention", expected.intervention),
    ] {
        match body.get(key) {
            Some(Value::String(got)) if got == want => {}
            Some(other) => return Err(format!("`{key}` is {other}, expected \"{want}\"")),
            None => return Err(format!("`{key}` is missing; a final must name it")),
        }
    }
    match fin.get("response_id") {
        Some(Value::String(got)) if got == expected.response_id => {}
        Some(other) => {
            return Err(format!(
                "`final.response_id` is {other}, expected the initiating response \"{}\"",
                expected.response_id
            ));
        }
        None => return Err("`final.response_id` is missing".to_owned()),
    }
    match fin.get("ticket_audit") {
        Some(Value::String(_)) => {}
        Some(_) => return Err("`final.ticket_audit` must be a string".to_owned()),
        None => return Err("`final.ticket_audit` is missing".to_owned()),
    }
    serde_json::from_value(Value::Object(fin.clone())).map_err(|e| format!("`final`: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    const EXPECTED: Expected<'static> = Expected {
        ticket_id: "tkt_1",
        uid: "u-1",
        intervention: "discount",
        response_id: "rsp_1",
    };

    fn answered(status: u16, body: Value) -> Answer {
        Answer::Answered {
            status,
            body: serde_json::to_vec(&body).unwrap(),
            retry_after: None,
        }
    }

    fn good_final() -> Value {
        json!({"ok": true, "ticket_id": "tkt_1", "uid": "u-1", "intervention": "discount",
               "final": {"response_id": "rsp_1", "ticket_audit": "done", "ref": "ORD-1"}})
    }

    #[test]
    fn ok_without_final_succeeds() {
        assert_eq!(
            classify(&answered(200, json!({"ok": true})), &EXPECTED),
            Verdict::Succeeded(None)
        );
    }

    #[test]
    fn a_matching_final_succeeds_with_its_extra_members() {
        let Verdict::Succeeded(Some(reply)) = classify(&answered(200, good_final()), &EXPECTED)
        else {
            panic!("not a success");
        };
        assert_eq!(reply.ticket_audit, "done");
        assert_eq!(reply.extra.get("ref"), Some(&json!("ORD-1")));
    }

    #[test]
    fn a_final_naming_another_response_or_uid_is_rejected() {
        for (pointer, value) in [
            ("/final/response_id", json!("rsp_2")),
            ("/final/response_id", json!(67890)),
            ("/uid", json!("u-2")),
            ("/ticket_id", json!("tkt_2")),
            ("/intervention", json!("other")),
            ("/final/ticket_audit", json!(5)),
        ] {
            let mut body = good_final();
            *body.pointer_mut(pointer).unwrap() = value;
            let verdict = classify(&answered(200, body), &EXPECTED);
            assert!(
                matches!(verdict, Verdict::Rejected(_)),
                "{pointer}: {verdict:?}"
            );
        }
    }

    #[test]
    fn server_errors_and_429_retry_other_client_errors_do_not() {
        for status in [500, 503, 429] {
            assert!(matches!(
                classify(&answered(status, json!({})), &EXPECTED),
                Verdict::Retry { .. }
            ));
        }
        for status in [400, 401, 403, 404, 302] {
            assert!(matches!(
                classify(&answered(status, json!({})), &EXPECTED),
                Verdict::Failed(_)
            ));
        }
        assert!(matches!(
            classify(&Answer::Failed("timed out".into()), &EXPECTED),
            Verdict::Retry { .. }
        ));
    }

    #[test]
    fn a_2xx_without_ok_true_is_a_permanent_failure() {
        for body in [json!({"ok": false}), json!({}), json!([1])] {
            assert!(matches!(
                classify(&answered(200, body), &EXPECTED),
                Verdict::Failed(_)
            ));
        }
    }
}
