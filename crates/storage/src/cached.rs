//! Hand-written SQL run as a cached prepared statement, and connections set up for how
//! such statements should be planned.
//!
//! diesel's `sql_query` marks itself unsafe to cache (it cannot know whether its text was
//! built at run time), so every call costs a round trip to prepare it (parse, analyse)
//! before the one that plans and runs it. [`cached_sql_query`] takes `&'static str` text
//! only: the statements a process can prepare are the ones written in its source, so the
//! per-connection cache stays bounded. Each connection prepares a statement once, keyed
//! by its text and bind types, like diesel's own queries; later calls bind and run it.
//!
//! PostgreSQL plans the first five executions of a prepared statement for their values,
//! then switches to one generic plan for every value if that one looks no costlier, and
//! keeps it until the tables' statistics change. Made while tables are empty (a new
//! database, a queue drained and vacuumed), that plan scans whole tables once they fill,
//! until the next ANALYZE. A statement whose plan depends on table sizes belongs on a
//! [`SessionPool`] connection set to `plan_cache_mode = force_custom_plan`: it keeps the
//! saved parse and round trip, and is planned for each execution's values. Check any
//! other one with `SET plan_cache_mode = force_generic_plan` and `EXPLAIN ANALYZE EXECUTE`
//! on empty and on full tables.

use std::{
    collections::HashSet,
    marker::PhantomData,
    sync::{Arc, Mutex, PoisonError},
};

use deadpool::managed::{Object, ObjectId};
use diesel::{
    QueryResult,
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    serialize::ToSql,
    sql_types::{HasSqlType, Untyped},
};
use diesel_async::SimpleAsyncConnection;

use crate::{Pool, PooledConn};

/// Hand-written SQL with its binds, run as a prepared statement that each connection keeps
/// (see the module docs); built by [`cached_sql_query`] and `bind`, then run with
/// diesel-async's `RunQueryDsl` (`load`, `get_result`, `execute`) like `sql_query`.
#[derive(Debug, Clone, Copy)]
#[must_use = "a query runs only when it is loaded or executed"]
pub struct CachedSqlQuery<Binds = NoBinds> {
    sql: &'static str,
    binds: Binds,
}

/// The binds of a [`CachedSqlQuery`] that has none yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBinds;

/// The binds of a [`CachedSqlQuery`]: those before, then `value` as SQL type `ST`.
#[derive(Debug, Clone, Copy)]
pub struct Bound<Before, ST, Value> {
    before: Before,
    value: Value,
    sql_type: PhantomData<ST>,
}

/// `sql` as a statement each connection prepares once and keeps; bind its parameters
/// (`$1`, `$2`, ...) in order with [`CachedSqlQuery::bind`].
pub fn cached_sql_query(sql: &'static str) -> CachedSqlQuery {
    CachedSqlQuery {
        sql,
        binds: NoBinds,
    }
}

impl<Binds> CachedSqlQuery<Binds> {
    /// Binds the next parameter as SQL type `ST`, like `sql_query(...).bind::<ST, _>(value)`.
    pub fn bind<ST, Value>(self, value: Value) -> CachedSqlQuery<Bound<Binds, ST, Value>>
    where
        Pg: HasSqlType<ST>,
        Value: ToSql<ST, Pg>,
    {
        CachedSqlQuery {
            sql: self.sql,
            binds: Bound {
                before: self.binds,
                value,
                sql_type: PhantomData,
            },
        }
    }
}

impl QueryFragment<Pg> for NoBinds {
    fn walk_ast<'b>(&'b self, _out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        Ok(())
    }
}

impl<Before, ST, Value> QueryFragment<Pg> for Bound<Before, ST, Value>
where
    Before: QueryFragment<Pg>,
    Pg: HasSqlType<ST>,
    Value: ToSql<ST, Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.before.walk_ast(out.reborrow())?;
        out.push_bind_param_value_only(&self.value)
    }
}

/// Unlike `SqlQuery`, this never calls `unsafe_to_cache_prepared`: that is the point.
impl<Binds: QueryFragment<Pg>> QueryFragment<Pg> for CachedSqlQuery<Binds> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(self.sql);
        self.binds.walk_ast(out.reborrow())
    }
}

/// No static id: diesel then keys the cache by the SQL text and the bind types.
impl<Binds> QueryId for CachedSqlQuery<Binds> {
    type QueryId = ();

    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Binds> Query for CachedSqlQuery<Binds> {
    type SqlType = Untyped;
}

/// Connections of a [`Pool`] that run a session setup (`SET` statements, such as planner
/// settings) the first time this hands each of them out; cheap to clone.
///
/// Other users of the same pool may get a connection already set up: give a pool one
/// `SessionPool`, with settings that suit whatever else runs on it.
#[derive(Clone)]
pub struct SessionPool {
    pool: Pool,
    setup: &'static str,
    /// Connections set up so far (ids are unique within one pool).
    set_up: Arc<Mutex<HashSet<ObjectId>>>,
}

/// Connections remembered as set up before the list starts over (setting one up again
/// costs a round trip, and the pool recreates connections only when they fail).
const MAX_REMEMBERED: usize = 1024;

impl SessionPool {
    /// Hands out connections of `pool`, each set up with `setup` (one or more
    /// `;`-separated statements) before its first use here.
    pub fn new(pool: Pool, setup: &'static str) -> Self {
        Self {
            pool,
            setup,
            set_up: Arc::default(),
        }
    }

    /// The pool the connections come from.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Checks a connection out, within the pool's acquire timeout, and sets it up if it
    /// has not been; failures are diesel errors as from [`crate::connection`].
    pub async fn connection(&self) -> QueryResult<PooledConn> {
        let mut conn = crate::connection(&self.pool).await?;
        let id = Object::id(&conn);
        if !self.remembered().contains(&id) {
            conn.batch_execute(self.setup).await?;
            let mut set_up = self.remembered();
            if set_up.len() >= MAX_REMEMBERED {
                set_up.clear();
            }
            set_up.insert(id);
        }
        Ok(conn)
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashSet<ObjectId>> {
        self.set_up.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use diesel::{
        QueryableByName,
        sql_types::{Array, BigInt, Integer, Text},
    };
    use diesel_async::{AsyncConnection, RunQueryDsl};

    use super::*;
    use crate::Conn;

    const SUM_OF_LENGTHS: &str = "SELECT count(*) AS items, coalesce(sum(length(u)), 0)::int + $2 AS total FROM unnest($1::text[]) AS u";

    #[derive(QueryableByName, Debug, PartialEq)]
    struct Totals {
        #[diesel(sql_type = BigInt)]
        items: i64,
        #[diesel(sql_type = Integer)]
        total: i32,
    }

    #[derive(QueryableByName)]
    struct Prepared {
        #[diesel(sql_type = BigInt)]
        statements: i64,
        #[diesel(sql_type = BigInt)]
        executions: i64,
    }

    /// Statements prepared on this session with `sql`, and how often they were run.
    async fn prepared(conn: &mut Conn, sql: &str) -> Prepared {
        diesel::sql_query(
            "SELECT count(*) AS statements,
                    coalesce(sum(generic_plans + custom_plans), 0)::bigint AS executions
             FROM pg_prepared_statements WHERE statement = $1",
        )
        .bind::<Text, _>(sql)
        .get_result(conn)
        .await
        .unwrap()
    }

    /// The maintenance database of the test server: every check here is about one
    /// session, so no database of its own is needed.
    fn server_database() -> String {
        let server = std::env::var("LOOPDESK_TEST_DATABASE_URL")
            .map(|url| url.trim_end_matches('/').to_owned())
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        format!("{server}/postgres")
    }

    /// A session of its own: prepared statements are per session.
    async fn session() -> Conn {
        Conn::establish(&server_database()).await.unwrap()
    }

    /// A pool of one session.
    fn one_session_pool() -> Pool {
        let mut settings = crate::DatabaseSettings::new(server_database(), "cached_tests");
        settings.max_connections = 1;
        crate::build_pool(&settings).unwrap()
    }

    #[derive(QueryableByName)]
    struct Plans {
        #[diesel(sql_type = BigInt)]
        generic: i64,
        #[diesel(sql_type = BigInt)]
        custom: i64,
    }

    /// How the session's prepared statements with text `sql` were planned.
    async fn plans(conn: &mut Conn, sql: &str) -> Plans {
        diesel::sql_query(
            "SELECT coalesce(sum(generic_plans), 0)::bigint AS generic,
                    coalesce(sum(custom_plans), 0)::bigint AS custom
             FROM pg_prepared_statements WHERE statement = $1",
        )
        .bind::<Text, _>(sql)
        .get_result(conn)
        .await
        .unwrap()
    }

    const ADD_ONE: &str = "SELECT $1 + 1 AS total";

    #[derive(QueryableByName)]
    struct Total {
        #[diesel(sql_type = Integer)]
        total: i32,
    }

    /// Runs [`ADD_ONE`] `times` on `conn`, checking each answer.
    async fn add_one(conn: &mut Conn, times: i32) {
        for n in 0..times {
            let sum: Total = cached_sql_query(ADD_ONE)
                .bind::<Integer, _>(n)
                .get_result(conn)
                .await
                .unwrap();
            assert_eq!(sum.total, n + 1);
        }
    }

    #[tokio::test]
    async fn a_plain_connection_switches_to_one_generic_plan() {
        // What `force_custom_plan` prevents: from the sixth execution on, PostgreSQL
        // reuses one plan made without the values.
        let mut conn = session().await;
        add_one(&mut conn, 8).await;
        let plans = plans(&mut conn, ADD_ONE).await;
        assert_eq!((plans.custom, plans.generic), (5, 3));
    }

    #[tokio::test]
    async fn a_session_pool_sets_each_connection_up_once() {
        // The setup counts how often it ran on the session.
        let pool = SessionPool::new(
            one_session_pool(),
            "SET plan_cache_mode = force_custom_plan;
             SELECT set_config('loopdesk.setups',
                 (coalesce(nullif(current_setting('loopdesk.setups', true), ''), '0')::int + 1)::text,
                 false)",
        );
        for _ in 0..2 {
            // The second checkout gets the same, already set up, session.
            let mut conn = pool.connection().await.unwrap();
            add_one(&mut conn, 4).await;
        }
        let mut conn = pool.connection().await.unwrap();
        let plans = plans(&mut conn, ADD_ONE).await;
        assert_eq!((plans.custom, plans.generic), (8, 0));
        #[derive(QueryableByName)]
        struct Setups {
            #[diesel(sql_type = Text)]
            setups: String,
        }
        let setups: Setups =
            diesel::sql_query("SELECT current_setting('loopdesk.setups') AS setups")
                .get_result(&mut conn)
                .await
                .unwrap();
        assert_eq!(setups.setups, "1");
        drop(conn);
        pool.pool().close();
    }

    #[tokio::test]
    async fn a_statement_is_prepared_once_per_connection_and_answers_for_its_binds() {
        let mut conn = session().await;
        for (words, extra) in [(vec!["a", "bb"], 0), (vec!["ccc"], 10), (vec![], 5)] {
            let expected = Totals {
                items: i64::try_from(words.len()).unwrap(),
                total: words
                    .iter()
                    .map(|w| i32::try_from(w.len()).unwrap())
                    .sum::<i32>()
                    + extra,
            };
            let got: Totals = cached_sql_query(SUM_OF_LENGTHS)
                .bind::<Array<Text>, _>(&words)
                .bind::<Integer, _>(extra)
                .get_result(&mut conn)
                .await
                .unwrap();
            assert_eq!(got, expected);
        }
        let seen = prepared(&mut conn, SUM_OF_LENGTHS).await;
        assert_eq!(seen.statements, 1, "prepared once, kept");
        assert_eq!(seen.executions, 3, "and run three times");
    }

    #[tokio::test]
    async fn sql_query_would_prepare_it_again_every_time() {
        // What this module is for: the same text through `sql_query` is not kept.
        let mut conn = session().await;
        for _ in 0..3 {
            let _: Totals = diesel::sql_query(SUM_OF_LENGTHS)
                .bind::<Array<Text>, _>(vec!["a"])
                .bind::<Integer, _>(1)
                .get_result(&mut conn)
                .await
                .unwrap();
        }
        assert_eq!(prepared(&mut conn, SUM_OF_LENGTHS).await.statements, 0);
    }

    #[tokio::test]
    async fn statements_execute_and_errors_come_back_as_errors() {
        let mut conn = session().await;
        const AFFECTED: &str = "UPDATE pg_temp.ledger SET n = n + $1 WHERE k = ANY($2)";
        diesel::sql_query("CREATE TEMP TABLE ledger (k text PRIMARY KEY, n bigint NOT NULL)")
            .execute(&mut conn)
            .await
            .unwrap();
        diesel::sql_query("INSERT INTO pg_temp.ledger VALUES ('a', 0), ('b', 0), ('c', 0)")
            .execute(&mut conn)
            .await
            .unwrap();
        let changed = cached_sql_query(AFFECTED)
            .bind::<BigInt, _>(2)
            .bind::<Array<Text>, _>(vec!["a", "c", "z"])
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(changed, 2);
        let wrong = cached_sql_query("SELECT 1 / $1 AS n")
            .bind::<Integer, _>(0)
            .execute(&mut conn)
            .await;
        assert!(wrong.is_err(), "division by zero must fail, got {wrong:?}");
        // The connection stays usable, and the cached statement with it.
        let again = cached_sql_query(AFFECTED)
            .bind::<BigInt, _>(1)
            .bind::<Array<Text>, _>(vec!["b"])
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(again, 1);
        assert_eq!(prepared(&mut conn, AFFECTED).await.statements, 1);
    }
}
