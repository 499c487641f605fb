//! A failing test must not leave its queues on the broker: a few hundred of them exhaust
//! a node's file handles and every later run hangs.

use lapin::{Connection, ConnectionProperties, options::QueueDeclareOptions, types::FieldTable};
use loopdesk_testkit::amqp_url;
use tokio::sync::oneshot;

use crate::helpers::spawn_app;

/// True when `queue` exists (a passive declare succeeds).
async fn queue_exists(queue: &str) -> bool {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let declared = channel
        .queue_declare(queue.into(), passive, FieldTable::default())
        .await;
    let _ = connection.close(200, "checked".into()).await;
    match declared {
        Ok(_) => true,
        Err(e) if e.to_string().contains("NOT_FOUND") => false,
        Err(e) => panic!("passive declare of {queue}: {e}"),
    }
}

#[tokio::test]
async fn a_test_that_panics_before_its_teardown_leaves_no_queues_behind() {
    let (named, queue) = oneshot::channel();
    let crashed = tokio::spawn(async move {
        let app = spawn_app().await;
        let commands = app
            .broker
            .names()
            .queue(ticket_service::app::COMMAND_CONSUMER);
        assert!(
            queue_exists(&commands).await,
            "the stack declared {commands}"
        );
        named.send(commands).unwrap();
        panic!("this test fails before its teardown");
    });
    assert!(crashed.await.unwrap_err().is_panic());
    let commands = queue.await.unwrap();
    assert!(
        !queue_exists(&commands).await,
        "{commands} outlived the failed test"
    );
}
