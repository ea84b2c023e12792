//! Per-minute quotas over a sliding window, and the fault plan.

use super::config::{FaultKind, Quotas};
use super::error::ApiError;
use std::collections::{HashMap, VecDeque};

const WINDOW_MS: i64 = 60_000;

#[derive(Debug, Default)]
pub(crate) struct QuotaState {
    per_user: HashMap<String, VecDeque<(i64, u32)>>,
    project: VecDeque<(i64, u32)>,
}

fn used(window: &mut VecDeque<(i64, u32)>, now: i64) -> u32 {
    while window.front().is_some_and(|(t, _)| *t <= now - WINDOW_MS) {
        window.pop_front();
    }
    window.iter().map(|(_, u)| *u).sum()
}

impl QuotaState {
    /// Charges `units` to the account and the project, or refuses without charging.
    pub(crate) fn charge(
        &mut self,
        quotas: &Quotas,
        account: &str,
        units: u32,
        now: i64,
    ) -> Result<(), ApiError> {
        let user = self.per_user.entry(account.to_string()).or_default();
        if let Some(limit) = quotas.per_user_per_minute {
            if used(user, now) + units > limit {
                return Err(ApiError::new(
                    403,
                    "usageLimits",
                    "userRateLimitExceeded",
                    "User Rate Limit Exceeded",
                ));
            }
        }
        if let Some(limit) = quotas.per_project_per_minute {
            if used(&mut self.project, now) + units > limit {
                return Err(ApiError::new(
                    429,
                    "usageLimits",
                    "rateLimitExceeded",
                    "Rate Limit Exceeded",
                ));
            }
        }
        user.push_back((now, units));
        self.project.push_back((now, units));
        Ok(())
    }
}

/// The error a fault answers with (the immediate kinds; the others have no body of their own).
pub(crate) fn fault_error(kind: &FaultKind) -> Option<ApiError> {
    Some(match kind {
        FaultKind::RateLimit403 => ApiError::new(
            403,
            "usageLimits",
            "rateLimitExceeded",
            "Rate Limit Exceeded",
        ),
        FaultKind::UserRateLimit403 => ApiError::new(
            403,
            "usageLimits",
            "userRateLimitExceeded",
            "User Rate Limit Exceeded",
        ),
        FaultKind::RateLimit429 => ApiError::new(
            429,
            "usageLimits",
            "rateLimitExceeded",
            "Rate Limit Exceeded",
        ),
        FaultKind::QuotaExceeded403 => ApiError::new(
            403,
            "usageLimits",
            "quotaExceeded",
            "Calendar usage limits exceeded.",
        ),
        FaultKind::BackendError500 => ApiError::backend_error(),
        FaultKind::Timeout(_) | FaultKind::LostResponse500 | FaultKind::LostResponseDrop => {
            return None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_counts_units() {
        let q = Quotas {
            per_user_per_minute: Some(5),
            per_project_per_minute: None,
        };
        let mut s = QuotaState::default();
        assert!(s.charge(&q, "a", 3, 0).is_ok());
        assert!(s.charge(&q, "a", 3, 1000).is_err());
        assert!(s.charge(&q, "a", 2, 1000).is_ok());
        assert!(s.charge(&q, "b", 5, 1000).is_ok());
        assert!(s.charge(&q, "a", 3, 60_001).is_ok());
    }
}
