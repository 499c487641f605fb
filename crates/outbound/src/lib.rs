//! Outbound calls to URLs an integrator chose (webhook endpoints, intervention
//! epilogs; DESIGN.md §6): the host is resolved here, every address must be global or
//! allow-listed, and the request goes through a client pinned to exactly those
//! addresses, without redirects or proxies; failed calls are retried on a fixed
//! schedule with jitter, within the bounds of `Retry-After`.

mod address;
mod clients;
mod excerpt;
mod schedule;

pub use address::{AllowList, Refusal, is_global, resolve_checked};
pub use clients::PinnedClients;
pub use excerpt::{EXCERPT_BYTES, excerpt, truncate_text};
pub use schedule::{RetrySchedule, parse_retry_after};
