//! When to try a recipient again after a temporary failure, and when to give up: the
//! backoff schedule (its last step repeating) and the queue lifetime.

/// The retry rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Seconds after the 1st, 2nd, … failure; never empty (the configuration checks).
    schedule: Vec<u64>,
    /// Seconds a message may stay queued.
    max_queue_time: i64,
}

/// What follows a temporary failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again at this time (Unix seconds).
    At(i64),
    /// The message has been queued too long: the recipient fails.
    Expired,
}

impl RetryPolicy {
    pub fn new(schedule: Vec<u64>, max_queue_time: u64) -> RetryPolicy {
        let schedule = if schedule.is_empty() {
            vec![300]
        } else {
            schedule
        };
        RetryPolicy {
            schedule,
            max_queue_time: max_queue_time as i64,
        }
    }

    /// Seconds a message may stay queued.
    pub fn max_queue_time(&self) -> i64 {
        self.max_queue_time
    }

    /// After the failure of attempt number `attempts + 1` (`attempts` made before) of a
    /// message queued at `created_at`. The last attempt is placed at the end of the
    /// lifetime at the latest, so that a message expires on time.
    pub fn after_failure(&self, attempts: i64, created_at: i64, now: i64) -> Retry {
        let expires = created_at.saturating_add(self.max_queue_time);
        if now >= expires {
            return Retry::Expired;
        }
        let step = usize::try_from(attempts.max(0))
            .unwrap_or(usize::MAX)
            .min(self.schedule.len() - 1);
        let wait = i64::try_from(self.schedule[step]).unwrap_or(i64::MAX);
        Retry::At(now.saturating_add(wait).min(expires))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_steps_then_repeats_its_last() {
        let p = RetryPolicy::new(vec![300, 600, 14400], 5 * 86_400);
        assert_eq!(p.after_failure(0, 0, 10), Retry::At(310));
        assert_eq!(p.after_failure(1, 0, 10), Retry::At(610));
        assert_eq!(p.after_failure(2, 0, 10), Retry::At(14410));
        assert_eq!(p.after_failure(9, 0, 10), Retry::At(14410));
    }

    #[test]
    fn expiry() {
        let p = RetryPolicy::new(vec![3600], 7200);
        // the next attempt is at the end of the lifetime at the latest
        assert_eq!(p.after_failure(1, 0, 5000), Retry::At(7200));
        assert_eq!(p.after_failure(2, 0, 7200), Retry::Expired);
        assert_eq!(p.after_failure(0, 0, 9000), Retry::Expired);
    }
}
