//! The providers' push notifications. Each is checked against the secret its channel or
//! subscription was created with (stored hashed); accepted ones start a round in the background,
//! because the providers want a quick answer (Graph within 3 seconds).

use super::links::{reauthorize_subscription, watch_link};
use super::rounds::run_round;
use crate::secrets::sha256_hex;
use crate::state::AppState;
use crate::store::sync::LinkRecord;
use almanac_providers::outlook::wire::ChangeNotificationCollection;

/// The link a notification is for, when its channel is known and its secret is the right one.
async fn verified_link(app: &AppState, channel: &str, secret: Option<&str>) -> Option<LinkRecord> {
    let link = match app.store.link_by_channel(channel).await {
        Ok(link) => link?,
        Err(e) => {
            // Refused like an unknown channel; the provider retries, or the worker catches up.
            tracing::error!(channel, error = %e, "could not look up a notification's channel");
            return None;
        }
    };
    let expected = link.channel_token_sha256.as_deref()?;
    (secret.map(sha256_hex).as_deref() == Some(expected)).then_some(link)
}

fn round_in_background(app: &AppState, link: LinkRecord) {
    let app = app.clone();
    tokio::spawn(async move {
        run_round(&app, &link).await;
    });
}

/// A Google push notification: whether it was for a channel we know, with the right token.
#[tracing::instrument(skip_all, fields(provider = "google", link))]
pub async fn google_notification(app: &AppState, channel_id: &str, token: Option<&str>) -> bool {
    let Some(link) = verified_link(app, channel_id, token).await else {
        return false;
    };
    tracing::Span::current().record("link", link.id.as_str());
    round_in_background(app, link);
    true
}

/// A batch of Graph change or lifecycle notifications; answers how many were accepted. A change
/// runs a round (once per link and batch); a lifecycle event renews or recreates the
/// subscription first.
#[tracing::instrument(skip_all, fields(provider = "outlook", notifications = batch.value.len()))]
pub async fn outlook_notifications(app: &AppState, batch: ChangeNotificationCollection) -> usize {
    let mut accepted = 0;
    let mut rounds: Vec<LinkRecord> = Vec::new();
    for n in batch.value {
        let Some(subscription) = n.subscription_id.as_deref() else {
            continue;
        };
        let Some(link) = verified_link(app, subscription, n.client_state.as_deref()).await else {
            continue;
        };
        accepted += 1;
        let lifecycle = n.lifecycle_event.as_ref().map(|e| e.as_str().to_string());
        match lifecycle.as_deref() {
            Some("reauthorizationRequired") => {
                let app = app.clone();
                tokio::spawn(async move {
                    if !reauthorize_subscription(&app, &link).await {
                        if let Err(e) = watch_link(&app, &link).await {
                            tracing::warn!(link = %link.id, error = %e, "could not recreate the Graph subscription; the worker's rounds still sync the link");
                        }
                    }
                });
            }
            // The subscription is gone, or notifications were lost: subscribe again and catch up.
            Some(_) => {
                let app = app.clone();
                tokio::spawn(async move {
                    if let Err(e) = watch_link(&app, &link).await {
                        tracing::warn!(link = %link.id, error = %e, "could not recreate the Graph subscription");
                    }
                    run_round(&app, &link).await;
                });
            }
            None => {
                if !rounds.iter().any(|r| r.id == link.id) {
                    rounds.push(link);
                }
            }
        }
    }
    for link in rounds {
        round_in_background(app, link);
    }
    accepted
}
