//! Per-key request budget: a token bucket per API key, in memory on each gateway
//! instance (so the effective limit scales with the number of instances).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use actix_web::{
    HttpMessage, HttpRequest,
    dev::{ServiceRequest, ServiceResponse},
    http::{
        StatusCode,
        header::{HeaderName, HeaderValue},
    },
    middleware::Next,
};
use loopdesk_contracts::ids::KeyId;
use loopdesk_web::Problem;

/// Buckets of all keys seen recently.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<KeyId, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    refreshed: Instant,
}

/// The budget left after admitting a request; becomes the `RateLimit-*` headers.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    limit: u32,
    remaining: u32,
    reset_secs: u64,
}

impl RateLimiter {
    /// `per_second` sustained, `burst` above it.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from the key's bucket, or refuses with 429.
    pub fn admit(&self, key: &KeyId) -> Result<Budget, Problem> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Idle buckets are full anyway: forgetting them changes nothing.
            buckets.retain(|_, b| now.duration_since(b.refreshed) < Duration::from_secs(60));
        }
        let bucket = buckets.entry(*key).or_insert(Bucket {
            tokens: self.burst,
            refreshed: now,
        });
        let elapsed = now.duration_since(bucket.refreshed).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.refreshed = now;
        let limit = self.burst as u32;
        if bucket.tokens < 1.0 {
            let wait = ((1.0 - bucket.tokens) / self.per_second).ceil().max(1.0) as u64;
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
                format!(
                    "this API key is limited to {} requests per second",
                    self.per_second
                ),
            )
            .retry_after(wait)
            .with_header(
                HeaderName::from_static("ratelimit-limit"),
                &limit.to_string(),
            )
            .with_header(HeaderName::from_static("ratelimit-remaining"), "0")
            .with_header(
                HeaderName::from_static("ratelimit-reset"),
                &wait.to_string(),
            ));
        }
        bucket.tokens -= 1.0;
        let reset_secs = ((self.burst - bucket.tokens) / self.per_second).ceil() as u64;
        Ok(Budget {
            limit,
            remaining: bucket.tokens as u32,
            reset_secs,
        })
    }
}

/// Middleware adding `RateLimit-*` headers to answers of authenticated requests.
pub async fn headers(
    req: ServiceRequest,
    next: Next<impl actix_web::body::MessageBody>,
) -> Result<ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let budget = res.request().extensions().get::<Budget>().copied();
    if let Some(b) = budget {
        let headers = res.headers_mut();
        for (name, value) in [
            ("ratelimit-limit", b.limit.to_string()),
            ("ratelimit-remaining", b.remaining.to_string()),
            ("ratelimit-reset", b.reset_secs.to_string()),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        }
    }
    Ok(res)
}

/// Remembers the budget on the request so [`headers`] can report it.
pub fn remember(req: &HttpRequest, budget: Budget) {
    req.extensions_mut().insert(budget);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_admitted_then_refused() {
        let limiter = RateLimiter::new(1, 3);
        let key = KeyId::generate();
        for _ in 0..3 {
            assert!(limiter.admit(&key).is_ok());
        }
        let refused = limiter.admit(&key).err().map(|p| p.status());
        assert_eq!(refused, Some(StatusCode::TOO_MANY_REQUESTS));
        assert!(
            limiter.admit(&KeyId::generate()).is_ok(),
            "buckets are per key"
        );
    }
}
