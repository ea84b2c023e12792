//! `calendarView/delta`: rounds of pages linked by `$skiptoken`, ending with a `$deltatoken`.
//!
//! A round is computed whole when its first page is asked for: the current view of the window
//! (singles and exceptions in full, plain occurrences as skeletons, masters never), compared with
//! what the previous round delivered (kept server-side under the delta token):
//!
//! - new or changed entries are sent;
//! - entries that left the window, and every stored item changed since the last round that is
//!   *outside* the window (added, updated or deleted), are sent as
//!   `{"@odata.type","id","@removed":{"reason":"deleted"}}`;
//! - a series' entries are never split across pages (a page may exceed `maxpagesize` for that);
//! - with replays on, the previous round's entries are sent again and one entry is repeated.
//!
//! Changes made while a round is being paged are delivered by the next round. Tokens fix the
//! window. Hooks make tokens answer 410 `syncStateNotFound`, or 410 with a `Location` header.

use super::error::{GraphError, GraphResult};
use super::render::Item;
use super::state::{Kind, State, View};
use super::util;
use crate::util::percent_encode;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenStatus {
    Live,
    Expired,
    Relocated,
}

#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub account: String,
    pub calendar: Option<String>,
    pub from: i64,
    pub to: i64,
    /// The request path of the initial call (after `/v1.0`), for links and `Location`.
    pub path: String,
}

#[derive(Debug, Clone)]
pub(crate) struct DeltaRec {
    scope: Scope,
    /// Identity → version of every entry delivered so far.
    seen: HashMap<String, String>,
    seq: u64,
    last_round: Vec<String>,
}

#[derive(Debug)]
enum Rec {
    Delta(Arc<DeltaRec>),
    /// The rest of a round: its groups from `at` on. Shared between the round's skip tokens, so a
    /// page costs what it sends, not what is left.
    Skip {
        groups: Arc<Vec<Vec<Value>>>,
        at: usize,
        next: Arc<DeltaRec>,
    },
}

#[derive(Debug, Default)]
pub(crate) struct DeltaState {
    recs: HashMap<String, (Rec, TokenStatus)>,
    order: VecDeque<String>,
}

impl DeltaState {
    fn store(&mut self, token: String, rec: Rec, capacity: usize) {
        self.recs.insert(token.clone(), (rec, TokenStatus::Live));
        self.order.push_back(token);
        while self.order.len() > capacity.max(1) {
            if let Some(old) = self.order.pop_front() {
                self.recs.remove(&old);
            }
        }
    }

    /// Test hooks: every token issued so far answers 410.
    pub(crate) fn mark_all(&mut self, status: TokenStatus) {
        for (_, s) in self.recs.values_mut() {
            *s = status;
        }
    }
}

/// One entry of the current view of a window.
struct Entry {
    ident: String,
    group: String,
    version: String,
    value: Value,
}

/// The query of a delta call.
pub(crate) enum Call {
    Initial(Scope),
    Skip(String),
    Delta(String),
}

/// What a delta call answers.
pub(crate) struct Page {
    pub value: Vec<Value>,
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
}

fn removed(id: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.event", "id": id, "@removed": {"reason": "deleted"}})
}

fn initial_url(base: &str, s: &Scope) -> String {
    format!(
        "{base}{}?startDateTime={}&endDateTime={}",
        s.path,
        percent_encode(&util::utc_instant(s.from)),
        percent_encode(&util::utc_instant(s.to))
    )
}

impl State {
    /// Entries of the window now, in order, grouped by series.
    fn window_view(&mut self, scope: &Scope, view: &View) -> Vec<Entry> {
        let mut out = Vec::new();
        let keys = self.live_in_scope(&scope.account, scope.calendar.as_deref());
        for key in keys {
            let Some(ev) = self.events.get(&key).cloned() else {
                continue;
            };
            match ev.kind {
                Kind::Single => {
                    let (s, e) = (ev.start.instant(), ev.end.instant());
                    if s < scope.to && (e > scope.from || (s == e && s >= scope.from)) {
                        if let Some(mut v) = self.render(&Item::Stored(key.clone()), view, false) {
                            v["@odata.type"] = json!("#microsoft.graph.event");
                            out.push(Entry {
                                ident: format!("s:{key}"),
                                group: key.clone(),
                                version: ev.change_key.clone(),
                                value: v,
                            });
                        }
                    }
                }
                Kind::Master => {
                    for inst in self.instances(&key, scope.from, scope.to) {
                        match &inst.exception {
                            Some(x) => {
                                let ck = self
                                    .events
                                    .get(x)
                                    .map(|e| e.change_key.clone())
                                    .unwrap_or_default();
                                if let Some(mut v) =
                                    self.render(&Item::Stored(x.clone()), view, false)
                                {
                                    v["@odata.type"] = json!("#microsoft.graph.event");
                                    out.push(Entry {
                                        ident: format!("s:{x}"),
                                        group: key.clone(),
                                        version: format!("{ck}|{}", ev.change_key),
                                        value: v,
                                    });
                                }
                            }
                            None => {
                                let v = self.render_skeletal(&inst, view);
                                out.push(Entry {
                                    ident: format!("o:{key}:{}", inst.orig),
                                    group: key.clone(),
                                    version: format!(
                                        "{}|{}|{}",
                                        ev.change_key, inst.start, inst.end
                                    ),
                                    value: v,
                                });
                            }
                        }
                    }
                }
                Kind::Exception => {}
            }
        }
        out
    }

    /// The id an identity is shown with (also for deleted items).
    fn ident_id(&mut self, ident: &str, immutable: bool) -> Option<String> {
        if let Some(k) = ident.strip_prefix("s:") {
            return self.events.get(k).map(|e| e.id(immutable).to_string());
        }
        let rest = ident.strip_prefix("o:")?;
        let (master, orig) = rest.rsplit_once(':')?;
        let orig: i64 = orig.parse().ok()?;
        let m = self.events.get(master)?;
        Some(util::occurrence_id(m.id(immutable), orig))
    }

    /// Computes a whole round: groups of entries (removals are groups of one) and the record the
    /// round's delta token will hold.
    fn round(
        &mut self,
        scope: Scope,
        prev: Option<&DeltaRec>,
        view: &View,
    ) -> (Vec<Vec<Value>>, DeltaRec) {
        let seq = self.current_seq();
        let entries = self.window_view(&scope, view);
        let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
        let push = |groups: &mut Vec<(String, Vec<Value>)>, group: &str, v: Value| match groups
            .last_mut()
        {
            Some((g, items)) if g == group => items.push(v),
            _ => groups.push((group.to_string(), vec![v])),
        };
        let replays = self.settings.delta_replays;
        let mut sent: Vec<String> = Vec::new();
        let current: HashMap<&str, &str> = entries
            .iter()
            .map(|e| (e.ident.as_str(), e.version.as_str()))
            .collect();
        for e in &entries {
            let changed = match prev {
                None => true,
                Some(p) => {
                    p.seen.get(&e.ident).is_none_or(|v| v != &e.version)
                        || (replays && p.last_round.contains(&e.ident))
                }
            };
            if changed {
                push(&mut groups, &e.group, e.value.clone());
                sent.push(e.ident.clone());
            }
        }
        if let Some(p) = prev {
            let mut gone: BTreeSet<String> = p
                .seen
                .keys()
                .filter(|i| !current.contains_key(i.as_str()))
                .cloned()
                .collect();
            // Stored items changed since the last round that are not in the window now.
            let in_view: BTreeSet<String> = entries
                .iter()
                .map(|e| e.group.clone())
                .chain(entries.iter().map(|e| e.ident.clone()))
                .collect();
            for (k, ev) in &self.events {
                if ev.seq <= p.seq
                    || ev.account != scope.account
                    || scope.calendar.as_ref().is_some_and(|c| c != &ev.calendar)
                {
                    continue;
                }
                let ident = format!("s:{k}");
                let visible = in_view.contains(&ident)
                    || (ev.kind == Kind::Master && in_view.contains(k.as_str()));
                if !visible {
                    gone.insert(ident);
                }
            }
            for ident in gone {
                if let Some(id) = self.ident_id(&ident, view.immutable) {
                    groups.push((ident.clone(), vec![removed(&id)]));
                }
            }
        }
        if replays {
            if let Some((_, first)) = groups.first().cloned() {
                if let Some(v) = first.first() {
                    groups.push(("replay".into(), vec![v.clone()]));
                }
            }
        }
        let seen = entries
            .iter()
            .map(|e| (e.ident.clone(), e.version.clone()))
            .collect();
        let rec = DeltaRec {
            scope,
            seen,
            seq,
            last_round: sent,
        };
        (groups.into_iter().map(|(_, v)| v).collect(), rec)
    }

    fn links(&self, path: &str, token_kind: &str, token: &str) -> String {
        format!("{}{path}?${token_kind}={token}", self.base_url)
    }

    /// Serves one delta call. Skip tokens may be used again (a client retrying a lost page gets
    /// the same page); the round's remaining pages are cut with each call's page size.
    pub(crate) fn delta_page(
        &mut self,
        call: Call,
        page_size: usize,
        view: &View,
    ) -> GraphResult<Page> {
        let capacity = self.config.delta_token_capacity;
        let (groups, mut at, next) = match call {
            Call::Initial(scope) => {
                let (g, n) = self.round(scope, None, view);
                (Arc::new(g), 0, Arc::new(n))
            }
            Call::Delta(token) => {
                let prev = match self.live_rec(&token)? {
                    Rec::Delta(d) => Arc::clone(d),
                    Rec::Skip { .. } => return Err(GraphError::sync_state_not_found()),
                };
                let (g, n) = self.round(prev.scope.clone(), Some(&prev), view);
                (Arc::new(g), 0, Arc::new(n))
            }
            Call::Skip(token) => match self.live_rec(&token)? {
                Rec::Skip { groups, at, next } => (Arc::clone(groups), *at, Arc::clone(next)),
                Rec::Delta(_) => return Err(GraphError::sync_state_not_found()),
            },
        };
        let size = page_size.max(1);
        let mut value = Vec::new();
        while let Some(g) = groups.get(at) {
            if !value.is_empty() && value.len() + g.len() > size {
                break;
            }
            value.extend(g.iter().cloned());
            at += 1;
        }
        let path = next.scope.path.clone();
        let token = util::token(&mut self.rng, "", 40);
        if at >= groups.len() {
            self.delta.store(token.clone(), Rec::Delta(next), capacity);
            Ok(Page {
                value,
                next_link: None,
                delta_link: Some(self.links(&path, "deltatoken", &token)),
            })
        } else {
            self.delta
                .store(token.clone(), Rec::Skip { groups, at, next }, capacity);
            Ok(Page {
                value,
                next_link: Some(self.links(&path, "skiptoken", &token)),
                delta_link: None,
            })
        }
    }

    fn live_rec(&self, token: &str) -> GraphResult<&Rec> {
        match self.delta.recs.get(token) {
            None | Some((_, TokenStatus::Expired)) => Err(GraphError::sync_state_not_found()),
            Some((rec, TokenStatus::Live)) => Ok(rec),
            Some((rec, TokenStatus::Relocated)) => {
                let scope = match rec {
                    Rec::Delta(d) => &d.scope,
                    Rec::Skip { next, .. } => &next.scope,
                };
                Err(GraphError::new(410, "resyncRequired", "The delta token is no longer valid because of service maintenance; restart synchronization from the URL in the Location header.")
                    .with_header("location", initial_url(&self.base_url, scope)))
            }
        }
    }
}
