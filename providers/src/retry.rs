//! Retry policy shared by the provider HTTP clients: truncated exponential backoff with full jitter,
//! plus `Retry-After` parsing.
//!
//! Google's error guide asks for "truncated exponential backoff with jitter"; Microsoft Graph sends
//! `Retry-After` on 429/503. Full jitter (a uniform draw in `[0, cap]`) spreads many workers that
//! failed at the same moment over the whole window instead of re-synchronising them on `cap`.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How often and how long a client retries a request that failed with a retryable error.
///
/// `max_attempts` counts the first attempt, so `1` means "never retry".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, including the first. `0` is treated as `1`.
    pub max_attempts: u32,
    /// Upper bound of the first retry's delay; doubles on every further retry.
    pub base_delay: Duration,
    /// Cap of the exponential window. A server-requested `Retry-After` longer than this is not
    /// slept through inside the client: the error is returned so the caller can reschedule the job.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Five attempts, 1 s base, 32 s cap: Google's recommended schedule (1, 2, 4, 8, 16, 32 s …),
    /// truncated so a sync job does not hold a worker for minutes.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(32),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries (one attempt).
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    /// The attempts budget, never less than one.
    pub fn attempts(&self) -> u32 {
        self.max_attempts.max(1)
    }

    /// The exponential window before the `retry`-th retry (1-based): `min(max_delay, base_delay · 2^(retry−1))`.
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        let factor = 1u32 << exponent;
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// A jittered delay for the `retry`-th retry (1-based): uniform in `[0, backoff_cap(retry)]`.
    pub fn backoff_delay(&self, retry: u32) -> Duration {
        let cap = self.backoff_cap(retry);
        let cap_nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=cap_nanos))
    }

    /// How long to wait before the `retry`-th retry, or `None` when the client should give up now
    /// and let the caller decide (the server asked for a longer pause than `max_delay`).
    ///
    /// A server-provided `Retry-After` is a floor: the delay is `max(retry_after, jittered backoff)`.
    pub fn delay_before_retry(
        &self,
        retry: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let jittered = self.backoff_delay(retry);
        match retry_after {
            Some(wait) if wait > self.max_delay => None,
            Some(wait) => Some(wait.max(jittered)),
            None => Some(jittered),
        }
    }
}

/// Parses a `Retry-After` header value: either delta-seconds (`"120"`) or an HTTP-date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`), relative to `now`. A date in the past yields zero; an
/// unparseable value yields `None` (the caller then falls back to its own backoff).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // IMF-fixdate is a subset of RFC 2822 as far as chrono's parser is concerned ("GMT" included).
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// What [`execute`] needs to know about a provider client's error type.
pub trait CallError: std::fmt::Display + Sized {
    /// The provider refused the access token (HTTP 401).
    fn is_unauthorized(&self) -> bool;
    fn is_retryable(&self) -> bool;
    /// The request certainly did not take effect (so even a non-idempotent one may be retried).
    fn certainly_not_applied(&self) -> bool;
    fn retry_after(&self) -> Option<Duration>;
    fn from_token(error: crate::oauth::TokenSourceError) -> Self;
}

/// Runs one API call for a provider client: fetches a token, sends (`send(token, attempt)`),
/// answers a 401 with exactly one refresh and retry (outside the retry budget), and retries
/// retryable failures with the policy's backoff — non-idempotent calls only when they certainly
/// did not take effect. `provider` and `op` only label log lines (never tokens).
pub async fn execute<E, F, Fut>(
    policy: &RetryPolicy,
    tokens: &dyn crate::oauth::AccessTokenSource,
    provider: &str,
    op: &str,
    idempotent: bool,
    mut send: F,
) -> Result<Vec<u8>, E>
where
    E: CallError,
    F: FnMut(crate::oauth::SecretString, u32) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<u8>, E>>,
{
    let max_attempts = policy.attempts();
    let mut attempt: u32 = 1;
    let mut refreshed = false;
    loop {
        let (token, result) = match tokens.access_token().await {
            Ok(token) => {
                let result = send(token.clone(), attempt).await;
                (Some(token), result)
            }
            Err(err) => (None, Err(E::from_token(err))),
        };
        let err = match result {
            Ok(body) => return Ok(body),
            Err(err) => err,
        };
        if let (true, Some(token), false) = (err.is_unauthorized(), &token, refreshed) {
            refreshed = true;
            tracing::info!(provider, op, "access token rejected; refreshing once");
            tokens.token_rejected(token).await;
            continue;
        }
        let retry_allowed = err.is_retryable() && (idempotent || err.certainly_not_applied());
        if !retry_allowed || attempt >= max_attempts {
            return Err(err);
        }
        let Some(delay) = policy.delay_before_retry(attempt, err.retry_after()) else {
            // The server wants a longer pause than we are willing to hold a worker for.
            return Err(err);
        };
        tracing::warn!(provider, op, attempt, delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), error = %err, "retrying provider call");
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn backoff_cap_doubles_and_truncates() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        assert_eq!(p.backoff_cap(1), Duration::from_millis(100));
        assert_eq!(p.backoff_cap(2), Duration::from_millis(200));
        assert_eq!(p.backoff_cap(4), Duration::from_millis(800));
        assert_eq!(p.backoff_cap(5), Duration::from_millis(1000));
        assert_eq!(p.backoff_cap(u32::MAX), Duration::from_millis(1000));
    }

    #[test]
    fn retry_after_longer_than_max_delay_gives_up() {
        let p = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_secs(5),
        };
        assert_eq!(p.delay_before_retry(1, Some(Duration::from_secs(60))), None);
        assert_eq!(
            p.delay_before_retry(1, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn parses_both_retry_after_forms() {
        let now = Utc
            .with_ymd_and_hms(2015, 10, 21, 7, 27, 0)
            .single()
            .expect("valid date");
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
