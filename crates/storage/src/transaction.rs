//! Running service code in one transaction on a pooled connection.

use std::future::Future;

use diesel_async::{AsyncConnection, TransactionManager};

use crate::{Conn, Pool, pool::connection};

/// An async closure usable as a transaction body: `async |conn| { ...; Ok(value) }`.
///
/// Exists so the bound can say the closure's future is `Send` (stable Rust cannot name an
/// async closure's future type); it is implemented for every fitting closure.
pub trait TransactionBody<Arg, Out>:
    AsyncFnOnce(Arg) -> Out + FnOnce(Arg) -> <Self as TransactionBody<Arg, Out>>::Future
{
    /// The future the closure returns.
    type Future: Future<Output = Out> + Send;
}

impl<F, Arg, Out, Fut> TransactionBody<Arg, Out> for F
where
    F: AsyncFnOnce(Arg) -> Out + FnOnce(Arg) -> Fut,
    Fut: Future<Output = Out> + Send,
{
    type Future = Fut;
}

/// Runs `body` in a transaction on a connection from `pool`: commits on `Ok`, rolls back on
/// `Err`. A pool timeout or unreachable database comes back as a diesel error for which
/// [`crate::is_unavailable`] is true.
///
/// ```ignore
/// let id = loopdesk_storage::transaction(&pool, async |conn| {
///     let id = insert_ticket(conn, &ticket).await?;
///     loopdesk_storage::enqueue(conn, &created_event).await?;
///     Ok::<_, MyError>(id)
/// })
/// .await?;
/// ```
pub async fn transaction<T, E, F>(pool: &Pool, body: F) -> Result<T, E>
where
    F: for<'c> TransactionBody<&'c mut Conn, Result<T, E>> + Send,
    E: From<diesel::result::Error> + Send,
    T: Send,
{
    type Manager = <Conn as AsyncConnection>::TransactionManager;

    let mut pooled = connection(pool).await?;
    let conn: &mut Conn = &mut pooled;
    Manager::begin_transaction(conn).await?;
    match body(&mut *conn).await {
        Ok(value) => {
            Manager::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(err) => {
            // The body's error says more than a failed rollback; a connection whose rollback
            // failed is marked broken and is not returned to the pool.
            if let Err(rollback) = Manager::rollback_transaction(conn).await {
                tracing::warn!(error = %rollback, "rollback after a failed transaction body failed");
            }
            Err(err)
        }
    }
}
