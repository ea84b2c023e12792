//! The edit dialog calendars show, as mutations: edit or delete an occurrence with a scope
//! (THIS, THIS_AND_FOLLOWING, ALL), restore it, mark or lock it, and dry runs of each edit.

use super::error::{respond, ApiError};
use super::inputs::{parse_id, set_or_clear, RecurrenceInput};
use super::scalars::Instant;
use super::types::*;
use crate::services;
use crate::services::edits::{Changes, Plan, Scope};
use crate::services::occurrences::OccurrenceAddress;
use almanac_domain::edit::EditReport;
use almanac_domain::occurrence::{OccurrenceId, RecurrenceId};
use almanac_domain::time::TimeWindow;
use almanac_domain::SeriesId;
use async_graphql::{Context, Enum, InputObject, MaybeUndefined, Object, SimpleObject, ID};
use std::sync::Arc;

/// Which occurrences an edit or delete applies to.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum EditScope {
    /// Only the addressed occurrence (an exception).
    This,
    /// The addressed occurrence and every later one (a split: the series ends before it and a
    /// continuation starts at it). At the first occurrence this is the same as ALL.
    ThisAndFollowing,
    /// Every occurrence of the series.
    All,
}

impl From<EditScope> for Scope {
    fn from(s: EditScope) -> Self {
        match s {
            EditScope::This => Scope::This,
            EditScope::ThisAndFollowing => Scope::ThisAndFollowing,
            EditScope::All => Scope::All,
        }
    }
}

/// Names an occurrence: `occurrenceId`, or `seriesId` + `recurrenceId` (its original start).
#[derive(InputObject, Clone)]
pub struct OccurrenceRef {
    /// The occurrence's id (`occ_…`, as in `Occurrence.id`). Give it alone.
    pub occurrence_id: Option<ID>,
    /// The id (`ser_…`) of the series holding the occurrence; give it with `recurrenceId`.
    pub series_id: Option<ID>,
    /// The occurrence's original start (`Occurrence.recurrenceId`), with `seriesId`.
    pub recurrence_id: Option<Instant>,
}

impl OccurrenceRef {
    fn address(&self) -> Result<OccurrenceAddress, ApiError> {
        match (&self.occurrence_id, &self.series_id, self.recurrence_id) {
            (Some(id), None, None) => Ok(OccurrenceAddress::Id(parse_id::<OccurrenceId>(
                "occurrenceId",
                id,
                "occurrence",
            )?)),
            (None, Some(series), Some(rid)) => Ok(OccurrenceAddress::InSeries(
                parse_id::<SeriesId>("seriesId", series, "series")?,
                RecurrenceId(rid.utc().timestamp()),
            )),
            _ => Err(ApiError::invalid(
                "occurrence",
                "name the occurrence by occurrenceId, or by seriesId and recurrenceId (not both)",
            )),
        }
    }
}

/// What to change. For THIS, `start`/`end` move the one occurrence; for THIS_AND_FOLLOWING and
/// ALL, a new `start` for the addressed occurrence shifts every affected occurrence by the same
/// wall-clock amount, and `end`/`duration` set their length.
#[derive(InputObject, Clone, Default)]
pub struct OccurrenceChanges {
    /// The addressed occurrence's new start (an RFC 3339 instant).
    pub start: Option<Instant>,
    /// The addressed occurrence's new end, after `start`; give this or `duration`.
    pub end: Option<Instant>,
    /// ISO 8601 (PT1H).
    pub duration: Option<String>,
    /// IANA zone (series scopes only).
    pub time_zone: Option<String>,
    /// A new title: 1–500 characters, trimmed.
    pub title: Option<String>,
    /// null clears it.
    pub description: MaybeUndefined<String>,
    /// A new kind (EVENT, BLOCKED, AVAILABLE).
    pub kind: Option<SeriesKindGql>,
    /// THIS only.
    pub status: Option<OccurrenceStatusGql>,
    /// A new recurrence for the affected range (series scopes only); null ends the recurrence.
    pub recurrence: MaybeUndefined<RecurrenceInput>,
}

impl From<OccurrenceChanges> for Changes {
    fn from(c: OccurrenceChanges) -> Self {
        Changes {
            start: c.start.map(Instant::utc),
            end: c.end.map(Instant::utc),
            duration: c.duration,
            time_zone: c.time_zone,
            title: c.title,
            description: set_or_clear(c.description),
            kind: c.kind.map(Into::into),
            status: c.status.map(Into::into),
            recurrence: set_or_clear(c.recurrence).map(|o| o.map(|r| r.into())),
        }
    }
}

/// An edit of an occurrence and, by scope, the ones around it.
#[derive(InputObject, Clone)]
pub struct EditOccurrenceInput {
    /// The occurrence to act on: by `occurrenceId`, or by `seriesId` + `recurrenceId`.
    pub occurrence: OccurrenceRef,
    /// THIS, THIS_AND_FOLLOWING or ALL.
    pub scope: EditScope,
    /// The `version` of the series holding the occurrence, as you read it.
    pub expected_version: i32,
    /// The fields to change; omitted fields keep their values.
    pub changes: OccurrenceChanges,
    /// REJECT: refuse if the edited EVENT occurrence(s) would overlap other busy time.
    #[graphql(default)]
    pub conflict_policy: super::inputs::ConflictPolicy,
}

/// A deletion of an occurrence and, by scope, the ones after it or the whole series.
#[derive(InputObject, Clone)]
pub struct DeleteOccurrenceInput {
    /// The occurrence to act on: by `occurrenceId`, or by `seriesId` + `recurrenceId`.
    pub occurrence: OccurrenceRef,
    /// THIS, THIS_AND_FOLLOWING or ALL.
    pub scope: EditScope,
    /// The `version` of the series holding the occurrence, as you read it; if it has changed
    /// since, nothing is written (CONFLICT).
    pub expected_version: i32,
}

/// The occurrence to restore to what the series' rule gives.
#[derive(InputObject)]
pub struct RestoreOccurrenceInput {
    /// The occurrence to act on: by `occurrenceId`, or by `seriesId` + `recurrenceId`.
    pub occurrence: OccurrenceRef,
    /// The `version` of the series holding the occurrence, as you read it; if it has changed
    /// since, nothing is written (CONFLICT).
    pub expected_version: i32,
}

/// A new status and/or lock for one occurrence; omitted fields keep their values.
#[derive(InputObject)]
pub struct SetOccurrenceStatusInput {
    /// The occurrence to act on: by `occurrenceId`, or by `seriesId` + `recurrenceId`.
    pub occurrence: OccurrenceRef,
    /// The `version` of the series holding the occurrence, as you read it; if it has changed
    /// since, nothing is written (CONFLICT).
    pub expected_version: i32,
    /// The occurrence's new status.
    pub status: Option<OccurrenceStatusGql>,
    /// Locking pins everything the occurrence shows; series-wide edits then leave it alone.
    pub locked: Option<bool>,
}

/// An exception that now applies to a different occurrence because the schedule moved.
#[derive(SimpleObject)]
pub struct ExceptionRemap {
    /// Its recurrence id before the edit.
    pub from: Instant,
    /// Its recurrence id now.
    pub to: Instant,
}

#[derive(SimpleObject)]
#[graphql(name = "DroppedException")]
/// An exception the edit removed because its occurrence no longer exists.
pub struct DroppedExceptionOut {
    /// The recurrence id it applied to.
    pub recurrence_id: Instant,
    /// Why it no longer applies, for people (not a stable code).
    pub reason: String,
}

/// What a series-wide edit did to exceptions and locked occurrences.
#[derive(SimpleObject)]
#[graphql(name = "EditReport")]
pub struct EditReportOut {
    /// THIS_AND_FOLLOWING at the first occurrence: the whole series was edited, no split.
    pub split_at_first_occurrence: bool,
    /// Exceptions that moved with their occurrence to a new recurrence id (a time change).
    pub exceptions_remapped: Vec<ExceptionRemap>,
    /// Exceptions that no longer had an occurrence to apply to, and why.
    pub exceptions_dropped: Vec<DroppedExceptionOut>,
    /// Locked occurrences in the edited range, left as they were.
    pub locked_left_alone: Vec<ID>,
}

pub(crate) fn report_out(report: &EditReport, lineage: SeriesId) -> EditReportOut {
    EditReportOut {
        split_at_first_occurrence: report.split_at_first,
        exceptions_remapped: report
            .remapped
            .iter()
            .map(|(a, b)| ExceptionRemap {
                from: a.instant().into(),
                to: b.instant().into(),
            })
            .collect(),
        exceptions_dropped: report
            .dropped
            .iter()
            .map(|d| DroppedExceptionOut {
                recurrence_id: d.exception.recurrence_id.instant().into(),
                reason: d.reason.clone(),
            })
            .collect(),
        locked_left_alone: report
            .locked_left_alone
            .iter()
            .map(|r| {
                ID(OccurrenceId {
                    lineage,
                    recurrence_id: *r,
                }
                .to_string())
            })
            .collect(),
    }
}

/// Declares the payloads of the occurrence edits: one per mutation, the same fields each.
macro_rules! edit_payloads {
    ($($(#[$meta:meta])* $name:ident),*) => {
        crate::payloads! {$(
            $(#[$meta])*
            $name {
                /// The series that holds the occurrence now (for a split: the continuation); null
                /// when the series was deleted.
                series: SeriesNode,
                /// For a split: the original series, now ending before the occurrence.
                original_series: SeriesNode,
                /// The occurrence after the edit (null when it no longer shows).
                occurrence: OccurrenceNode,
                /// Set when the edit deleted a series (`ser_…`): evict it from client caches.
                deleted_series_id: ID,
                /// What happened to exceptions and locked occurrences; null when refused.
                report: EditReportOut,
            }
        )*}
        $(impl From<&Plan> for $name {
            fn from(plan: &Plan) -> Self {
                let lineage = plan.before.lineage().root;
                let split = plan.original().is_some();
                $name {
                    series: plan.holder().map(|s| SeriesNode(Arc::new(s.clone()))),
                    original_series: if split { plan.original().map(|s| SeriesNode(Arc::new(s.clone()))) } else { None },
                    occurrence: plan.occurrence().map(|(o, s)| OccurrenceNode { occurrence: o, series: Arc::new(s.clone()) }),
                    deleted_series_id: plan.deleted.map(|d| ID(d.to_string())),
                    report: Some(report_out(&plan.report, lineage)),
                    user_errors: Vec::new(),
                }
            }
        })*
    };
}

edit_payloads!(
    /// What `editOccurrence` did.
    EditOccurrencePayload,
    /// What `deleteOccurrence` did.
    DeleteOccurrencePayload,
    /// What `restoreOccurrence` did.
    RestoreOccurrencePayload,
    /// What `setOccurrenceStatus` did.
    SetOccurrenceStatusPayload
);

/// Declares the payloads of the dry runs: what an edit would do, without doing it.
macro_rules! preview_payloads {
    ($($(#[$meta:meta])* $name:ident),*) => {
        crate::payloads! {$(
            $(#[$meta])*
            $name {
                /// Occurrences that would appear.
                added: Vec<OccurrenceNode>,
                /// Occurrences that would keep their id but show differently (time, title,
                /// status, …), as they would show.
                changed: Vec<OccurrenceNode>,
                /// Occurrences that would disappear, as they show now.
                removed: Vec<OccurrenceNode>,
                /// The window held more occurrences than a preview compares; the lists cover the
                /// earliest.
                truncated: bool,
                /// What the edit would do to exceptions and locked occurrences.
                report: EditReportOut,
            }
        )*}
        $(impl From<EditPreview> for $name {
            fn from(p: EditPreview) -> Self {
                $name { added: Some(p.added), changed: Some(p.changed), removed: Some(p.removed), truncated: Some(p.truncated), report: Some(p.report), user_errors: Vec::new() }
            }
        })*
    };
}

preview_payloads!(
    /// What `editOccurrence` would do with the same input; nothing was written.
    PreviewEditOccurrencePayload,
    /// What `deleteOccurrence` would do with the same input; nothing was written.
    PreviewDeleteOccurrencePayload
);

/// What an edit would do, without doing it.
struct EditPreview {
    added: Vec<OccurrenceNode>,
    changed: Vec<OccurrenceNode>,
    removed: Vec<OccurrenceNode>,
    truncated: bool,
    report: EditReportOut,
}

fn preview_out(
    plan: &Plan,
    from: Option<Instant>,
    to: Option<Instant>,
) -> Result<EditPreview, ApiError> {
    let window = match (from, to) {
        (Some(f), Some(t)) => TimeWindow::new(f.utc(), t.utc())?,
        (None, None) => services::edits::default_preview_window(plan.at)?,
        _ => {
            return Err(ApiError::invalid(
                "from",
                "give both from and to, or neither",
            ))
        }
    };
    let p = services::edits::preview(plan, window);
    let node = |(o, s): (
        almanac_domain::occurrence::Occurrence,
        almanac_domain::series::Series,
    )| OccurrenceNode {
        occurrence: o,
        series: Arc::new(s),
    };
    Ok(EditPreview {
        added: p.added.into_iter().map(node).collect(),
        changed: p.changed.into_iter().map(node).collect(),
        removed: p.removed.into_iter().map(node).collect(),
        truncated: p.truncated,
        report: report_out(&plan.report, plan.before.lineage().root),
    })
}

#[derive(Default)]
pub struct OccurrenceMutations;

#[Object]
impl OccurrenceMutations {
    /// Edits an occurrence: only it (THIS), it and every later one (THIS_AND_FOLLOWING), or the
    /// whole series (ALL). One transaction, guarded by `expectedVersion`. Refused with NOT_FOUND
    /// when the occurrence is not in your organization (or no longer shows), CONFLICT when
    /// `expectedVersion` is stale or, with `conflictPolicy: REJECT`, when busy time is in the way,
    /// LOCKED when the change would alter a locked occurrence, and BAD_USER_INPUT /
    /// RECURRENCE_INVALID for bad changes.
    async fn edit_occurrence(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The occurrence, scope, version and changes.")] input: EditOccurrenceInput,
    ) -> async_graphql::Result<EditOccurrencePayload> {
        let outcome = async {
            let app = app(ctx);
            let address = input.occurrence.address()?;
            let reject = input.conflict_policy == super::inputs::ConflictPolicy::Reject;
            let plan = services::edits::plan_edit(
                app,
                viewer(ctx).organization,
                address,
                input.scope.into(),
                i64::from(input.expected_version),
                input.changes.into(),
            )
            .await?;
            services::edits::commit(app, &plan, reject).await?;
            Ok(EditOccurrencePayload::from(&plan))
        };
        respond(ctx, outcome.await)
    }

    /// Deletes an occurrence: cancels it (THIS; it still uses up COUNT), ends the series before it
    /// (THIS_AND_FOLLOWING; from the first occurrence, deletes the series), or deletes the series
    /// (ALL). A series with locked occurrences is not deleted whole (LOCKED). Also refused with
    /// NOT_FOUND when the occurrence is not in your organization (or no longer shows), and
    /// CONFLICT when `expectedVersion` is stale.
    async fn delete_occurrence(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The occurrence, scope and version.")] input: DeleteOccurrenceInput,
    ) -> async_graphql::Result<DeleteOccurrencePayload> {
        let outcome = async {
            let app = app(ctx);
            let address = input.occurrence.address()?;
            let plan = services::edits::plan_delete(
                app,
                viewer(ctx).organization,
                address,
                input.scope.into(),
                i64::from(input.expected_version),
            )
            .await?;
            services::edits::commit(app, &plan, false).await?;
            Ok(DeleteOccurrencePayload::from(&plan))
        };
        respond(ctx, outcome.await)
    }

    /// Undoes every change made to one occurrence (move, fields, status, cancellation). Refused
    /// with NOT_FOUND when the occurrence is not in your organization, CONFLICT when
    /// `expectedVersion` is stale, LOCKED while the occurrence is locked.
    async fn restore_occurrence(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The occurrence and version.")] input: RestoreOccurrenceInput,
    ) -> async_graphql::Result<RestoreOccurrencePayload> {
        let outcome = async {
            let app = app(ctx);
            let address = input.occurrence.address()?;
            let plan = services::edits::plan_restore(
                app,
                viewer(ctx).organization,
                address,
                i64::from(input.expected_version),
            )
            .await?;
            services::edits::commit(app, &plan, false).await?;
            Ok(RestoreOccurrencePayload::from(&plan))
        };
        respond(ctx, outcome.await)
    }

    /// Marks an occurrence's status and/or locks or unlocks it. Refused with NOT_FOUND when the
    /// occurrence is not in your organization (or no longer shows), CONFLICT when
    /// `expectedVersion` is stale, LOCKED when changing the status of a locked occurrence without
    /// unlocking it (`locked: false`) in the same call.
    async fn set_occurrence_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The occurrence, version, status and lock.")]
        input: SetOccurrenceStatusInput,
    ) -> async_graphql::Result<SetOccurrenceStatusPayload> {
        let outcome = async {
            let app = app(ctx);
            let address = input.occurrence.address()?;
            let plan = services::edits::plan_status(
                app,
                viewer(ctx).organization,
                address,
                i64::from(input.expected_version),
                input.status.map(Into::into),
                input.locked,
            )
            .await?;
            services::edits::commit(app, &plan, false).await?;
            Ok(SetOccurrenceStatusPayload::from(&plan))
        };
        respond(ctx, outcome.await)
    }

    /// The occurrences `editOccurrence` would add, change and remove in [from, to) (default: a
    /// year either side of the occurrence). Writes nothing.
    /// Refused like `editOccurrence` would be, except for conflicts.
    async fn preview_edit_occurrence(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Exactly what you would send to `editOccurrence`.")]
        input: EditOccurrenceInput,
        #[graphql(
            desc = "Start of the window to compare (inclusive); give both `from` and `to`, or neither for a year either side of the occurrence."
        )]
        from: Option<Instant>,
        #[graphql(desc = "End of the window to compare (exclusive), after `from`.")] to: Option<
            Instant,
        >,
    ) -> async_graphql::Result<PreviewEditOccurrencePayload> {
        let outcome = async {
            let app = app(ctx);
            let address = input.occurrence.address()?;
            let plan = services::edits::plan_edit(
                app,
                viewer(ctx).organization,
                address,
                input.scope.into(),
                i64::from(input.expected_version),
                input.changes.into(),
            )
            .await?;
            preview_out(&plan, from, to).map(PreviewEditOccurrencePayload::from)
        };
        respond(ctx, outcome.await)
    }

    /// The occurrences `deleteOccurrence` would remove in [from, to). Writes nothing.
    /// Refused like `deleteOccurrence` would be.
    async fn preview_delete_occurrence(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Exactly what you would send to `deleteOccurrence`.")]
        input: DeleteOccurrenceInput,
        #[graphql(
            desc = "Start of the window to compare (inclusive); give both `from` and `to`, or neither for a year either side of the occurrence."
        )]
        from: Option<Instant>,
        #[graphql(desc = "End of the window to compare (exclusive), after `from`.")] to: Option<
            Instant,
        >,
    ) -> async_graphql::Result<PreviewDeleteOccurrencePayload> {
        let outcome = async {
            let app = app(ctx);
            let address = input.occurrence.address()?;
            let plan = services::edits::plan_delete(
                app,
                viewer(ctx).organization,
                address,
                input.scope.into(),
                i64::from(input.expected_version),
            )
            .await?;
            preview_out(&plan, from, to).map(PreviewDeleteOccurrencePayload::from)
        };
        respond(ctx, outcome.await)
    }
}
