//! The Outlook adapter's pull against the Graph emulator: what a round reads from Graph and what
//! it reports. A fresh round's delta listing is every master's instance list (no `instances`
//! re-read); an incremental round, where delta may stay silent about deleted occurrences, leads to
//! a re-check that reads them.

use almanac_emulators::outlook::{OutlookEmulator, OutlookEmulatorConfig};
use almanac_providers::oauth::StaticAccessToken;
use almanac_providers::outlook::adapter::{OutlookCalendar, OutlookOptions};
use almanac_providers::outlook::client::{GraphClient, GraphClientConfig};
use almanac_providers::outlook::wire::Event;
use almanac_providers::sync::engine::{RemoteCalendar, RemoteChange};
use chrono::{Datelike, Duration, NaiveTime, Utc};
use serde_json::json;
use std::sync::Arc;

const ACCOUNT: &str = "pat@example.com";

fn client(emulator: &OutlookEmulator) -> GraphClient {
    let tokens = emulator.issue_tokens(ACCOUNT);
    let config = GraphClientConfig {
        base_url: emulator.base_url(),
        ..GraphClientConfig::default()
    };
    GraphClient::new(
        config,
        Arc::new(StaticAccessToken::new(tokens.access_token)),
    )
    .expect("client")
}

fn instance_reads(emulator: &OutlookEmulator) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|q| q.path.ends_with("/instances"))
        .count()
}

/// Cancelled original starts and moved (original start, title) pairs a round reported.
fn exceptions(changes: &[RemoteChange]) -> (Vec<i64>, Vec<(i64, Option<String>)>) {
    let mut cancelled = Vec::new();
    let mut modified = Vec::new();
    for c in changes {
        if let RemoteChange::Exception { exception, .. } = c {
            if exception.cancelled {
                cancelled.push(exception.original_start);
            } else {
                modified.push((exception.original_start, exception.title.clone()));
            }
        }
    }
    cancelled.sort();
    modified.sort();
    (cancelled, modified)
}

#[tokio::test]
async fn a_fresh_round_reads_masters_only_and_an_incremental_one_rechecks_instances() {
    let emulator = OutlookEmulator::start(OutlookEmulatorConfig::default())
        .await
        .expect("emulator");
    emulator.add_account(ACCOUNT);
    let user = client(&emulator);

    // Six Mondays at 09:00 UTC from next week: inside the adapter's default window around today.
    let today = Utc::now().date_naive();
    let monday = today + Duration::days(7 - i64::from(today.weekday().num_days_from_monday()));
    let at = |week: i64| {
        (monday + Duration::weeks(week))
            .and_time(NaiveTime::from_hms_opt(9, 0, 0).expect("time"))
            .and_utc()
    };
    let event = json!({
        "subject": "Weekly",
        "start": { "dateTime": at(0).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC" },
        "end": { "dateTime": (at(0) + Duration::minutes(30)).format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC" },
        "recurrence": {
            "pattern": { "type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday" },
            "range": { "type": "numbered", "startDate": monday.to_string(), "numberOfOccurrences": 6 }
        }
    });
    let master = user
        .create_event(
            None,
            &serde_json::from_value::<Event>(event).expect("event"),
        )
        .await
        .expect("create");
    let master_id = master.id.clone().expect("id");
    let occurrence = |instances: &[Event], week: i64| {
        instances
            .iter()
            .find(|o| o.original_start.as_ref().map(|t| t.to_utc()) == Some(at(week)))
            .and_then(|o| o.id.clone())
            .expect("occurrence")
    };
    let instances = user
        .instances(&master_id, at(0) - Duration::days(1), at(6))
        .await
        .expect("instances");
    assert_eq!(instances.len(), 6);
    user.patch_event(
        &occurrence(&instances, 1),
        &json!({ "subject": "Moved" }),
        None,
    )
    .await
    .expect("retitle one");
    user.delete_event(&occurrence(&instances, 2), None)
        .await
        .expect("delete one");

    let outlook =
        OutlookCalendar::new(client(&emulator), chrono_tz::UTC, OutlookOptions::default());
    emulator.clear_requests();
    let fresh = outlook.changes("primary", None).await.expect("fresh round");
    assert!(fresh.full);
    assert_eq!(
        instance_reads(&emulator),
        0,
        "the fresh delta listing is the instance list"
    );
    assert!(
        fresh.changes.iter().any(
            |c| matches!(c, RemoteChange::Series { remote_id, .. } if remote_id == &master_id)
        ),
        "{:?}",
        fresh.changes
    );
    let (cancelled, modified) = exceptions(&fresh.changes);
    assert_eq!(
        cancelled,
        vec![at(2).timestamp()],
        "the deleted occurrence, found from the listing"
    );
    assert_eq!(
        modified,
        vec![(at(1).timestamp(), Some("Moved".to_string()))]
    );

    // Deleted in Outlook after the fresh round: the next round is incremental.
    user.delete_event(&occurrence(&instances, 4), None)
        .await
        .expect("delete another");
    emulator.clear_requests();
    let next = outlook
        .changes("primary", Some(&fresh.next_cursor))
        .await
        .expect("incremental round");
    assert!(!next.full);
    let found = if next.recheck_mapped {
        outlook
            .recheck("primary", std::slice::from_ref(&master_id))
            .await
            .expect("re-check")
    } else {
        next.changes.clone()
    };
    assert!(
        instance_reads(&emulator) >= 1,
        "an incremental round re-reads the master's instances"
    );
    let (cancelled, modified) = exceptions(&found);
    assert_eq!(
        cancelled,
        vec![at(2).timestamp(), at(4).timestamp()],
        "{found:?}"
    );
    assert_eq!(
        modified,
        vec![(at(1).timestamp(), Some("Moved".to_string()))]
    );
}
