//! Cases that hold for every emulator alike, written once over a [`Fixture`] and run for each
//! provider.

use super::harness::{send, Fixture};
use almanac_emulators::google::{self, GoogleEmulator, GoogleEmulatorConfig};
use almanac_emulators::outlook::{self, OutlookEmulator, OutlookEmulatorConfig};
use almanac_emulators::FaultPlan;
use reqwest::Method;

const ALICE: &str = "alice@example.com";

struct Google;

impl Fixture for Google {
    type App = google::App;
    const READ: &'static str = "calendars/primary/events";

    async fn start() -> (GoogleEmulator, String, String) {
        let emu = GoogleEmulator::start(GoogleEmulatorConfig::default())
            .await
            .unwrap();
        let token = emu.issue_tokens(ALICE).access_token;
        let base = emu.base_url();
        (emu, base, token)
    }

    fn server_error_and_throttling() -> Vec<google::FaultKind> {
        vec![
            google::FaultKind::BackendError500,
            google::FaultKind::RateLimit429,
        ]
    }
}

struct Outlook;

impl Fixture for Outlook {
    type App = outlook::App;
    const READ: &'static str = "/me/events";

    async fn start() -> (OutlookEmulator, String, String) {
        let emu = OutlookEmulator::start(OutlookEmulatorConfig::default())
            .await
            .unwrap();
        let token = emu.issue_tokens(ALICE).access_token;
        let base = emu.base_url();
        (emu, base, token)
    }

    fn server_error_and_throttling() -> Vec<outlook::FaultKind> {
        vec![
            outlook::FaultKind::InternalServerError500,
            outlook::FaultKind::Throttled429 {
                retry_after_secs: 1,
            },
        ]
    }
}

/// PROVIDERS.md §3 items 18 (Google) and 37 (Graph): seeded random faults meet the same requests
/// on every run with the same seed, and only those.
async fn random_faults_are_reproducible_with_a_seed<P: Fixture>() {
    async fn run<P: Fixture>(seed: u64) -> Vec<u16> {
        let (emu, base, token) = P::start().await;
        emu.inject_faults(FaultPlan::random(
            0.4,
            P::server_error_and_throttling(),
            seed,
        ));
        let http = reqwest::Client::new();
        let mut out = Vec::new();
        for _ in 0..25 {
            let url = format!("{base}{}", P::READ);
            let r = send(&http, Method::GET, url, &token, None, &[]).await;
            out.push(r.status.as_u16());
        }
        // The log names every injected fault, and only those.
        let faulted = emu.requests().iter().filter(|r| r.fault.is_some()).count();
        assert_eq!(faulted, out.iter().filter(|s| **s != 200).count());
        out
    }
    let (a, b, c) = (run::<P>(7).await, run::<P>(7).await, run::<P>(8).await);
    assert_eq!(a, b);
    assert_ne!(a, c);
    let failures = a.iter().filter(|s| **s != 200).count();
    assert!(failures > 0 && failures < 25, "{a:?}");
    assert!(a.iter().all(|s| [200, 500, 429].contains(s)), "{a:?}");
}

#[tokio::test]
async fn google_random_faults_are_reproducible_with_a_seed() {
    random_faults_are_reproducible_with_a_seed::<Google>().await;
}

#[tokio::test]
async fn outlook_random_faults_are_reproducible_with_a_seed() {
    random_faults_are_reproducible_with_a_seed::<Outlook>().await;
}
