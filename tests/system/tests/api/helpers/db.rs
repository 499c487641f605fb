//! Looking into the test's database.

use std::time::Duration;

use diesel::{QueryableByName, sql_query, sql_types::BigInt};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use loopdesk_testkit::wait_until;

use super::TestApp;

impl TestApp {
    /// Rows in a table of the test database (`schema.table`).
    pub async fn count(&self, table: &str) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let mut conn = AsyncPgConnection::establish(&self.db.url).await.unwrap();
        let row: Count = sql_query(format!("SELECT count(*) AS n FROM {table}"))
            .get_result(&mut conn)
            .await
            .unwrap();
        row.n
    }

    /// Waits until `table` holds `n` rows.
    pub async fn wait_count(&self, table: &str, n: i64) {
        wait_until(
            Duration::from_secs(15),
            &format!("{n} rows in {table}"),
            || async { (self.count(table).await == n).then_some(()) },
        )
        .await;
    }

    /// Waits until the ticket service's outbox is empty (everything committed has been
    /// published and confirmed).
    pub async fn outbox_drained(&self) {
        self.wait_count("tickets.outbox", 0).await;
    }
}
