//! A download URL is served once, and only while it is fresh.

use std::time::Duration;

/// How long an unclaimed download waits for its request by default.
pub const DEFAULT_UNCLAIMED_TTL: Duration = Duration::from_secs(60);

/// Why a request for a download URL gets no stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// The URL was requested before; each URL is served once.
    #[error("this download was already served")]
    AlreadyServed,
    /// Nobody requested the URL in time.
    #[error("this download expired before it was requested")]
    Expired,
}

/// Serve-once state of one download URL in the service worker. Time is passed in
/// (e.g. `performance.now()` as a `Duration` since an arbitrary origin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    state: LeaseState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeaseState {
    Waiting { deadline: Duration },
    Served,
    Expired,
}

impl Lease {
    /// A lease opened at `now` that expires `ttl` later unless claimed.
    pub fn new(now: Duration, ttl: Duration) -> Self {
        Self { state: LeaseState::Waiting { deadline: now.saturating_add(ttl) } }
    }

    /// The request for the URL arrived: succeeds once, if in time.
    pub fn handle_claim(&mut self, now: Duration) -> Result<(), LeaseError> {
        self.handle_timeout(now);
        match self.state {
            LeaseState::Waiting { .. } => {
                self.state = LeaseState::Served;
                Ok(())
            }
            LeaseState::Served => Err(LeaseError::AlreadyServed),
            LeaseState::Expired => Err(LeaseError::Expired),
        }
    }

    /// Time passed: expires the lease if its deadline is reached.
    pub fn handle_timeout(&mut self, now: Duration) {
        if let LeaseState::Waiting { deadline } = self.state {
            if now >= deadline {
                self.state = LeaseState::Expired;
            }
        }
    }

    /// When [`Lease::handle_timeout`] should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.state {
            LeaseState::Waiting { deadline } => Some(deadline),
            LeaseState::Served | LeaseState::Expired => None,
        }
    }

    /// The lease expired unclaimed.
    pub fn is_expired(&self) -> bool {
        self.state == LeaseState::Expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn served_once() {
        let mut lease = Lease::new(S(10), DEFAULT_UNCLAIMED_TTL);
        assert_eq!(lease.poll_timeout(), Some(S(70)));
        assert_eq!(lease.handle_claim(S(69)), Ok(()));
        assert_eq!(lease.handle_claim(S(69)), Err(LeaseError::AlreadyServed));
        assert_eq!(lease.poll_timeout(), None);
    }

    #[test]
    fn expires_unclaimed() {
        let mut lease = Lease::new(S(0), S(60));
        lease.handle_timeout(S(59));
        assert!(!lease.is_expired());
        lease.handle_timeout(S(60));
        assert!(lease.is_expired());
        assert_eq!(lease.handle_claim(S(61)), Err(LeaseError::Expired));
        let mut late = Lease::new(S(0), S(60));
        assert_eq!(late.handle_claim(S(100)), Err(LeaseError::Expired));
    }
}
