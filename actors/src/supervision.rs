//! `RestartBudget`: the restart-intensity limit of OTP's one_for_one supervisors, which ractor
//! leaves to us: at most `max` restarts within `window`, or the child is given up on.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone)]
pub struct RestartBudget {
    max: u32,
    window: Duration,
    recent: VecDeque<Instant>,
    total: u64,
}

impl RestartBudget {
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            recent: VecDeque::new(),
            total: 0,
        }
    }

    /// Records a failure at `now`; true when a restart is still allowed.
    pub fn allow(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() as u32 >= self.max {
            return false;
        }
        self.recent.push_back(now);
        self.total += 1;
        true
    }

    /// Restarts granted since this budget was made.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// An operator's restart starts from a clean slate.
    pub fn reset(&mut self) {
        self.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_max_restarts_per_window_then_refuses() {
        let mut budget = RestartBudget::new(3, Duration::from_secs(10));
        let start = Instant::now();
        assert!(budget.allow(start));
        assert!(budget.allow(start + Duration::from_secs(1)));
        assert!(budget.allow(start + Duration::from_secs(2)));
        assert!(!budget.allow(start + Duration::from_secs(3)));
        // Once the first restarts leave the window, there is room again.
        assert!(budget.allow(start + Duration::from_secs(12)));
        assert_eq!(budget.total(), 4);
    }
}
