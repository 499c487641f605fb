//! The names of exchanges and queues, all under one prefix.

/// Derives every exchange and queue name from the configured prefix, so tests and
/// environments can share one broker without seeing each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// Names under `prefix` (without the trailing dot).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix itself.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The direct exchange commands are sent to: `"{prefix}.commands"`.
    pub fn commands_exchange(&self) -> String {
        format!("{}.commands", self.prefix)
    }

    /// The topic exchange events are published to: `"{prefix}.events"`.
    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    /// A consumer's main queue: `"{prefix}.{consumer}"`.
    pub fn queue(&self, consumer: &str) -> String {
        format!("{}.{consumer}", self.prefix)
    }

    /// Where a consumer's messages wait before they are tried again: `"{prefix}.{consumer}.retry"`.
    pub fn retry_queue(&self, consumer: &str) -> String {
        format!("{}.{consumer}.retry", self.prefix)
    }

    /// A consumer's dead-letter queue: `"{prefix}.{consumer}.dlq"`.
    pub fn dead_letter_queue(&self, consumer: &str) -> String {
        format!("{}.{consumer}.dlq", self.prefix)
    }

    /// A request/reply client's reply queue: `"{prefix}.replies.{suffix}"`.
    pub fn reply_queue(&self, suffix: &str) -> String {
        format!("{}.replies.{suffix}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_carries_the_prefix() {
        let names = Names::new("t42");
        assert_eq!(names.commands_exchange(), "t42.commands");
        assert_eq!(names.events_exchange(), "t42.events");
        assert_eq!(names.queue("tickets"), "t42.tickets");
        assert_eq!(names.retry_queue("tickets"), "t42.tickets.retry");
        assert_eq!(names.dead_letter_queue("tickets"), "t42.tickets.dlq");
        assert_eq!(names.reply_queue("abc"), "t42.replies.abc");
    }
}
