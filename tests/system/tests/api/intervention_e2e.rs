//! The guide's discount example (seed 000) from end to end, through all five services
//! and the real epilog dispatcher, with a real HTTP server as the remote shop: the
//! shop's create call, the staff's panel and submission, the epilog callback and the
//! shop's `final`. Then the same flow, watched for the remote's bearer token in every
//! answer and every log line written, the AMQP frame dumps of the commands included.

use std::{
    io,
    sync::{Arc, Mutex},
    time::Duration,
};

use loopdesk_auth::Ability;
use loopdesk_contracts::Env;
use loopdesk_testkit::wait_until;
use reqwest::Method;
use serde_json::{Value, json};
use tracing_subscriber::{
    Layer, filter::LevelFilter, fmt::MakeWriter, layer::SubscriberExt, util::SubscriberInitExt,
};

use crate::{
    helpers::{TENANT, TestApp, spawn_app},
    receiver::{Received, Receiver, Reply},
};

const NAME: &str = "discount_request";
const PRIVATE: &str =
    "The shop asks for a discount on an order of {{ data.order_price }} {{ data.currency }}.";
const PUBLIC: &str = "We are reviewing your discount request.";
const FINAL: &str =
    "Discount applied at {{ final.applied_price }}: shop order {{ final.remote_reference }}.";
/// `FINAL` rendered with the shop's final.
const RENDERED_FINAL: &str = "Discount applied at 95: shop order ORD-10021.";
const AUDIT: &str = "Discount approved at 95 GBP, remote order updated: ORD-10021";

/// The guide's create body (seed §5.2), word for word.
fn guide_create_body() -> Value {
    json!({
        "originator_email_address": "someone@client-system.example",
        "intervention": NAME,
        "uid": "remote-unique-id-123",
        "data": {
            "data": {"currency": "GBP", "order_price": 100, "accept": false},
            "title": "Optional override title if used by your payload conventions"
        }
    })
}

/// The data bag as staff send it back (seed §5.4): the price edited, the discount accepted.
fn decided_data() -> Value {
    json!({"currency": "GBP", "order_price": 95, "accept": true})
}

/// The shop's epilog endpoint (seed §5.5): it checks the bearer token and answers with
/// the guide's `final`, naming the ticket, uid and response the request named. A wrong
/// token gets a 401 that echoes what was sent, as careless remotes do.
fn shop(token: &str) -> impl Fn(&Received) -> Reply + Send + Sync + 'static {
    let expected = format!("Bearer {token}");
    move |request| {
        let authorization = request.header("authorization");
        if authorization != expected {
            return Reply::json(
                401,
                json!({"ok": false, "error": format!("unknown token: {authorization}")}),
            );
        }
        let call = request.json();
        Reply::json(
            200,
            json!({
                "ok": true,
                "ticket_id": call["ticket_id"],
                "uid": call["uid"],
                "intervention": call["intervention"],
                "final": {
                    "response_id": call["response_id"],
                    "ticket_audit": AUDIT,
                    "remote_reference": "ORD-10021",
                    "applied_price": call["data"]["order_price"]
                }
            }),
        )
    }
}

/// The gateway as a test talks to it, keeping every answer body it received.
struct Api<'a> {
    app: &'a TestApp,
    answers: Mutex<Vec<String>>,
}

impl<'a> Api<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            answers: Mutex::new(Vec::new()),
        }
    }

    /// One request (mutations with a fresh Idempotency-Key); answers status and JSON.
    async fn send(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .app
            .client
            .request(method.clone(), format!("{}{path}", self.app.address))
            .bearer_auth(key);
        if method != Method::GET {
            request = request.header("Idempotency-Key", ulid::Ulid::new().to_string());
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.answers.lock().unwrap().push(text);
        (status, body)
    }

    async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.send(Method::GET, path, key, None).await
    }

    /// Every answer body received so far.
    fn answers(&self) -> Vec<String> {
        self.answers.lock().unwrap().clone()
    }

    /// The admin defines the guide's intervention (seed §3, §6, §7) with the shop at
    /// `epilog_url` and its bearer token.
    async fn define_discount_request(&self, admin: &str, epilog_url: &str, token: &str) {
        let (status, body) = self
            .send(
                Method::POST,
                "/v1/interventions",
                admin,
                Some(json!({
                    "name": NAME,
                    "title": "Discount request",
                    "queue_name": "sales",
                    "notify_inbox_managers": true,
                    "fma_inbox_managers": false,
                    "remote_enabled": true,
                    "remote_name": "Shop",
                    "remote_epilog_url": epilog_url,
                    "remote_bearer_token": token,
                    "remote_timeout_seconds": 10
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["remote_bearer_token_set"], true, "{body}");
        // The price is a label: a text field holds a string and the guide's price is a
        // number the shop wants back as one.
        let fields = json!([
            {"type": "label", "label": "Order price: {{order_price}} {{currency}}"},
            {"type": "hr"},
            {"type": "checkbox", "name": "accept", "label": "Approve the discount", "required": true}
        ]);
        let path = format!("/v1/interventions/{NAME}/fields");
        let (status, body) = self.send(Method::PUT, &path, admin, Some(fields)).await;
        assert_eq!(status, 200, "{body}");
        for (kind, source) in [("private", PRIVATE), ("public", PUBLIC), ("final", FINAL)] {
            let path = format!("/v1/interventions/{NAME}/templates/{kind}");
            let (status, body) = self
                .send(Method::PUT, &path, admin, Some(json!({"body": source})))
                .await;
            assert_eq!(status, 200, "{body}");
        }
    }

    /// The remote's own `create-ticket` key, generated by the admin (seed §6).
    async fn remote_key(&self, admin: &str) -> String {
        let path = format!("/v1/interventions/{NAME}/remote_token");
        let (status, body) = self.send(Method::POST, &path, admin, None).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["abilities"], json!(["create-ticket"]), "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// The shop's create call (seed §5.2); answers the `data` of `{ok, data}`.
    async fn guide_create(&self, remote_key: &str) -> Value {
        let (status, body) = self
            .send(
                Method::POST,
                "/api/create_ticket",
                remote_key,
                Some(guide_create_body()),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["ok"], true, "{body}");
        body["data"].clone()
    }

    /// The ticket, once the ticket service has it.
    async fn ticket(&self, key: &str, id: &str) -> Value {
        wait_until(Duration::from_secs(15), "the ticket", || async {
            let (status, body) = self.get(&format!("/v1/tickets/{id}"), key).await;
            (status == 200).then_some(body)
        })
        .await
    }

    /// The ticket's thread, once `check` holds for it.
    async fn thread_when(
        &self,
        key: &str,
        id: &str,
        what: &str,
        check: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        wait_until(Duration::from_secs(20), what, || async {
            let path = format!("/v1/tickets/{id}/responses?limit=100");
            let (_, body) = self.get(&path, key).await;
            let thread = body["data"].as_array()?.clone();
            check(&thread).then_some(thread)
        })
        .await
    }

    /// The intervention panel of a ticket (seed §5.3).
    async fn panel(&self, key: &str, id: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/v1/tickets/{id}/interventions"), key)
            .await;
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().unwrap().clone()
    }

    /// Staff submit their decision with a response; answers the initiating response id.
    async fn submit(&self, key: &str, ticket: &str, payload: &str) -> String {
        let path = format!("/v1/tickets/{ticket}/interventions/{payload}/submit");
        let (status, body) = self
            .send(
                Method::POST,
                &path,
                key,
                Some(json!({
                    "action": "submit",
                    "data": decided_data(),
                    "response": {"body": "Approved the discount at 95 GBP."}
                })),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["status"], "submitted", "{body}");
        body["response_id"].as_str().unwrap().to_owned()
    }

    /// The epilog job of `payload` once it is `status`.
    async fn job_when(&self, key: &str, payload: &str, status: &str) -> Value {
        wait_until(
            Duration::from_secs(20),
            &format!("a {status} epilog job"),
            || async {
                let (_, page) = self.get("/v1/epilog_jobs", key).await;
                let id = page["data"]
                    .as_array()?
                    .iter()
                    .find(|job| job["payload_id"] == payload)?["id"]
                    .as_str()?
                    .to_owned();
                let (_, job) = self.get(&format!("/v1/epilog_jobs/{id}"), key).await;
                (job["status"] == status).then_some(job)
            },
        )
        .await
    }
}

/// Whether the thread holds the final response rendered from `{name}.final`.
fn has_final(thread: &[Value]) -> bool {
    thread.iter().any(|r| r["body"] == RENDERED_FINAL)
}

#[tokio::test]
async fn the_guides_discount_request_runs_from_the_shops_create_call_to_the_final_response() {
    let app = spawn_app().await;
    let api = Api::new(&app);
    let remote = Receiver::start().await;
    let token = "rbt-shop-Zq8fW3kP1x";
    remote.always_from(shop(token)).await;
    let admin = app.key_for(TENANT, Env::Test, &[Ability::InterventionsAdmin]);
    let staff = app.key_for(
        TENANT,
        Env::Test,
        &[Ability::TicketsRead, Ability::TicketsWrite],
    );

    api.define_discount_request(&admin, &remote.url("/tickiti/epilog"), token)
        .await;
    let remote_key = api.remote_key(&admin).await;

    // The shop asks, with the key it was given.
    let created = api.guide_create(&remote_key).await;
    assert_eq!(
        created["used_intervention"],
        json!({"private": true, "public": true, "final": true}),
        "{created}"
    );
    assert_eq!(created["created_ticket"], true, "{created}");
    let ticket_id = created["ticket_id"].as_str().unwrap().to_owned();
    let payload_id = created["payload_id"].as_str().unwrap().to_owned();
    let ticket = api.ticket(&staff, &ticket_id).await;
    assert_eq!(
        ticket["subject"],
        "Optional override title if used by your payload conventions"
    );
    assert_eq!(ticket["queue"], "sales");
    assert_eq!(
        ticket["requester"]["email"],
        "someone@client-system.example"
    );
    let thread = api
        .thread_when(&staff, &ticket_id, "the two templates", |t| t.len() == 2)
        .await;
    assert_eq!(
        (thread[0]["kind"].as_str(), thread[0]["body"].as_str()),
        (
            Some("note"),
            Some("The shop asks for a discount on an order of 100 GBP.")
        )
    );
    assert_eq!(
        (thread[1]["kind"].as_str(), thread[1]["body"].as_str()),
        (Some("reply"), Some(PUBLIC))
    );

    // Staff read the panel: the shop's data bag, the fields with their tokens resolved.
    let panel = api.panel(&staff, &ticket_id).await;
    assert_eq!(panel.len(), 1, "{panel:?}");
    let item = &panel[0];
    assert_eq!(item["id"], payload_id.as_str());
    assert_eq!(
        (item["intervention"].as_str(), item["uid"].as_str()),
        (Some(NAME), Some("remote-unique-id-123"))
    );
    assert_eq!(item["accepted"], false);
    assert_eq!(item["data"], guide_create_body()["data"]);
    let labels: Vec<&Value> = item["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["label"])
        .collect();
    assert_eq!(
        labels,
        [
            &json!("Order price: 100 GBP"),
            &Value::Null,
            &json!("Approve the discount")
        ]
    );

    // Staff decide; the real dispatcher calls the shop.
    let response_id = api.submit(&staff, &ticket_id, &payload_id).await;
    let calls = remote.wait_for(1).await;
    let call = &calls[0];
    assert_eq!(call.path, "/tickiti/epilog");
    assert_eq!(
        call.json(),
        json!({
            "ticket_id": ticket_id,
            "response_id": response_id,
            "uid": "remote-unique-id-123",
            "intervention": NAME,
            "action": "submit",
            "data": decided_data()
        })
    );
    assert_eq!(call.header("authorization"), format!("Bearer {token}"));

    // The shop's final: the job succeeded at once, the initiating response carries the
    // audit, the final template is posted and the payload leaves the panel.
    let job = api.job_when(&staff, &payload_id, "succeeded").await;
    assert_eq!(job["attempts"], 1, "{job}");
    assert_eq!(job["final"]["remote_reference"], "ORD-10021", "{job}");
    let thread = api
        .thread_when(&staff, &ticket_id, "the audit and the final", |t| {
            has_final(t)
                && t.iter().any(|r| {
                    r["id"] == response_id.as_str()
                        && r["audit"].as_array().is_some_and(|a| !a.is_empty())
                })
        })
        .await;
    let initiating = thread
        .iter()
        .find(|r| r["id"] == response_id.as_str())
        .unwrap();
    assert_eq!(initiating["body"], "Approved the discount at 95 GBP.");
    assert_eq!(initiating["audit"][0]["body"], AUDIT);
    let fin = thread.iter().find(|r| r["body"] == RENDERED_FINAL).unwrap();
    assert_eq!(
        (fin["kind"].as_str(), fin["author"]["type"].as_str()),
        (Some("reply"), Some("system"))
    );
    assert_eq!(
        thread.len(),
        4,
        "two templates, the staff response, the final"
    );
    assert!(
        api.panel(&staff, &ticket_id).await.is_empty(),
        "the payload is accepted"
    );
    assert_eq!(remote.received().await.len(), 1, "one call, no retry");

    remote.stop().await;
    app.teardown().await;
}

/// Every log line written in this process, as JSON, from the moment it is installed.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Installs a TRACE-level JSON subscriber for every target (and the `log` bridge) as
    /// the process's global one. The services never install one themselves (only their
    /// `main` does), and nextest runs each test in its own process, so it sees all of
    /// them; under a shared-process runner another test may have installed first.
    fn install() -> Self {
        let logs = Self::default();
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(logs.clone())
            .with_filter(LevelFilter::TRACE);
        tracing_subscriber::registry()
            .with(layer)
            .try_init()
            .expect("no global subscriber yet: run this test in its own process (nextest)");
        logs
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The ways a token shows up in text: as itself, and as a debug-printed byte list.
fn renderings(token: &str) -> [String; 2] {
    let bytes = format!("{:?}", token.as_bytes());
    [token.to_owned(), bytes.trim_matches(['[', ']']).to_owned()]
}

#[tokio::test]
async fn the_remote_bearer_token_never_appears_in_answers_or_logs() {
    let logs = CapturedLogs::install();
    let app = spawn_app().await;
    let api = Api::new(&app);
    let remote = Receiver::start().await;
    // Unique per run, so nothing else can have written them.
    let good = format!("rbt-good-{}", ulid::Ulid::new());
    let wrong = format!("rbt-wrong-{}", ulid::Ulid::new());
    remote.always_from(shop(&good)).await;
    let admin = app.key_for(TENANT, Env::Test, &[Ability::InterventionsAdmin]);
    let staff = app.key_for(
        TENANT,
        Env::Test,
        &[Ability::TicketsRead, Ability::TicketsWrite],
    );

    // Defined with the shop's token, then mistakenly changed to a wrong one.
    api.define_discount_request(&admin, &remote.url("/epilog"), &good)
        .await;
    let definition = format!("/v1/interventions/{NAME}");
    let (status, body) = api
        .send(
            Method::PATCH,
            &definition,
            &admin,
            Some(json!({"remote_bearer_token": wrong})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["remote_bearer_token_set"], true, "{body}");
    assert_eq!(api.get(&definition, &admin).await.0, 200);
    assert_eq!(api.get("/v1/interventions", &admin).await.0, 200);

    let remote_key = api.remote_key(&admin).await;
    let created = api.guide_create(&remote_key).await;
    let ticket_id = created["ticket_id"].as_str().unwrap().to_owned();
    let payload_id = created["payload_id"].as_str().unwrap().to_owned();
    api.ticket(&staff, &ticket_id).await;
    assert_eq!(api.panel(&staff, &ticket_id).await.len(), 1);
    api.submit(&staff, &ticket_id, &payload_id).await;

    // The shop refuses the wrong token: failed at once, listed among the failed jobs.
    let failed = api.job_when(&staff, &payload_id, "failed").await;
    assert_eq!(failed["attempts"], 1, "{failed}");
    assert_eq!(failed["attempts_log"][0]["status_code"], 401, "{failed}");
    let job_id = failed["id"].as_str().unwrap().to_owned();
    let (status, page) = api.get("/v1/epilog_jobs?status=failed", &staff).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["data"][0]["id"], job_id.as_str(), "{page}");

    // Staff fix the token and retry: the shop's final completes the intervention.
    let (status, body) = api
        .send(
            Method::PATCH,
            &definition,
            &admin,
            Some(json!({"remote_bearer_token": good})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let retry = format!("/v1/epilog_jobs/{job_id}/retry");
    let (status, body) = api
        .send(Method::POST, &retry, &staff, Some(json!({})))
        .await;
    assert_eq!(status, 202, "{body}");
    let succeeded = api.job_when(&staff, &payload_id, "succeeded").await;
    assert_eq!(succeeded["attempts"], 2, "{succeeded}");
    api.thread_when(&staff, &ticket_id, "the final response", has_final)
        .await;

    // Both tokens really travelled: the test could see them if they leaked.
    let calls = remote.received().await;
    let sent: Vec<&str> = calls.iter().map(|c| c.header("authorization")).collect();
    assert_eq!(sent, [format!("Bearer {wrong}"), format!("Bearer {good}")]);

    let answers = api.answers();
    assert!(answers.len() > 10, "{} answers", answers.len());
    let log = logs.text();
    assert!(
        log.contains(&job_id) && log.contains("epilog attempt"),
        "the capture sees the services' logs ({} bytes)",
        log.len()
    );
    // It sees the wire too: lapin's frame dumps of the definition commands, whose bodies
    // carry the tokens sealed for intervention-service, never in plaintext.
    let sealed_field = renderings("remote_bearer_token_sealed");
    assert!(
        log.lines().any(|line| is_amqp_frame_dump(line)
            && sealed_field.iter().any(|shown| line.contains(shown))),
        "the capture sees the commands' frames"
    );
    for token in [&good, &wrong] {
        for shown in renderings(token) {
            for answer in &answers {
                assert!(
                    !answer.contains(&shown),
                    "an answer shows {shown}: {answer}"
                );
            }
            let leaks: Vec<&str> = log.lines().filter(|line| line.contains(&shown)).collect();
            assert!(leaks.is_empty(), "the logs show {shown}: {leaks:#?}");
        }
    }

    remote.stop().await;
    app.teardown().await;
}

/// Whether a log line is lapin's TRACE dump of an AMQP frame, body bytes included: a
/// wire capture of every message, so a token in plaintext on the broker would show here.
fn is_amqp_frame_dump(line: &str) -> bool {
    let Ok(line) = serde_json::from_str::<Value>(line) else {
        return false;
    };
    line["target"]
        .as_str()
        .is_some_and(|target| target.starts_with("lapin"))
        && line.get("frame").is_some()
}
