//! What an owning service's internal read API answers when its own database fails it:
//! the same 503 in every service, naming the database.

use loopdesk_storage::{Pool, PooledConn};
use loopdesk_web::Problem;

/// Seconds after which a caller told the database is unavailable may try again.
const RETRY_AFTER_SECS: u64 = 2;

/// A service's database as its read handlers reach it.
#[derive(Debug, Clone, Copy)]
pub struct ReadDatabase {
    owner: &'static str,
}

impl ReadDatabase {
    /// The database of `owner`, as "the {owner} database" in answers.
    pub const fn of(owner: &'static str) -> Self {
        Self { owner }
    }

    /// 503 `service_unavailable`: the database cannot be reached; retry in two seconds.
    pub fn unavailable(self) -> Problem {
        Problem::unavailable(
            format!("the {} database is unavailable", self.owner),
            RETRY_AFTER_SECS,
        )
    }

    /// A connection from `pool`, or [`ReadDatabase::unavailable`].
    pub async fn connect(self, pool: &Pool) -> Result<PooledConn, Problem> {
        pool.get().await.map_err(|_| self.unavailable())
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{ResponseError, http::StatusCode};

    use super::*;

    #[test]
    fn an_unavailable_database_is_a_503_naming_it_with_a_retry() {
        let problem = ReadDatabase::of("ticket").unavailable();
        assert_eq!(problem.code(), "service_unavailable");
        assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            problem.to_string(),
            "503 service_unavailable: the ticket database is unavailable"
        );
        let response = problem.error_response();
        assert_eq!(
            response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("2")
        );
    }
}
