//! Field errors handled as the GraphQL spec says (§6.4.4, "Handling Field Errors").
//!
//! async-graphql 7.2.1 resolves each selection set in `do_resolve_container`, which records a
//! failed field's error and then leaves its key out of the object: no field is ever nulled, and
//! nothing bubbles up. A client then sees `data` without `calendar`, or a calendar without its
//! non-null `series`, and code generated from the schema reads `undefined` where it was promised a
//! value or an explicit null.
//!
//! This extension wraps every field's resolution (the `resolve` hook runs for every field, on every
//! transport, subscriptions included), so the fix holds for every resolver without touching them:
//! - a field that fails keeps its key with `null`, and its error is reported;
//! - when that field is non-null, the null moves to the nearest nullable ancestor — an enclosing
//!   list item, a field, or `data` itself — when the ancestor's own resolution finishes.
//!
//! It must be the outermost extension (registered first) so it also sees errors that other
//! extensions raise around a field.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, NextSubscribe, ResolveInfo};
use async_graphql::futures_util::stream::{BoxStream, StreamExt};
use async_graphql::{PathSegment, Response, ServerError, ServerResult, Value};
use std::sync::{Arc, Mutex};

pub struct NullPropagation;

impl ExtensionFactory for NullPropagation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Propagator::default())
    }
}

#[derive(Default)]
struct Propagator {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Errors of fields whose keys are kept (as null); added to the response at the end.
    errors: Vec<ServerError>,
    /// Paths of non-null fields that became null and whose nearest nullable ancestor has not been
    /// nulled yet.
    failed: Vec<Vec<PathSegment>>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Propagator {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// Adds the recorded errors to a finished response and nulls `data` when a non-null root field
/// failed.
fn finish(state: &Mutex<State>, mut response: Response) -> Response {
    {
        let State { errors, failed } = std::mem::take(&mut *lock(state));
        // Anything still pending reached the root: only `data` itself can take the null.
        if !failed.is_empty() {
            response.data = Value::Null;
        }
        response.errors.extend(errors);
    }
    response
}

fn path_of(info: &ResolveInfo<'_>) -> Vec<PathSegment> {
    let mut path: Vec<PathSegment> = std::iter::once(info.path_node)
        .chain(info.path_node.parents())
        .map(|node| match node.segment {
            async_graphql::QueryPathSegment::Index(i) => PathSegment::Index(i),
            async_graphql::QueryPathSegment::Name(name) => PathSegment::Field(name.to_string()),
        })
        .collect();
    path.reverse();
    path
}

fn nullable(ty: &str) -> bool {
    !ty.ends_with('!')
}

/// The item type of a list type (`[Occurrence!]!` → `Occurrence!`); None if `ty` is not a list.
fn item_type(ty: &str) -> Option<&str> {
    ty.strip_suffix('!').unwrap_or(ty).strip_prefix('[')?.strip_suffix(']')
}

fn value_at<'v>(value: &'v mut Value, indices: &[usize]) -> Option<&'v mut Value> {
    indices.iter().try_fold(value, |v, &i| match v {
        Value::List(items) => items.get_mut(i),
        _ => None,
    })
}

#[async_graphql::async_trait::async_trait]
impl Extension for Propagator {
    async fn execute(&self, ctx: &ExtensionContext<'_>, operation_name: Option<&str>, next: NextExecute<'_>) -> Response {
        let response = next.run(ctx, operation_name).await;
        finish(&self.state, response)
    }

    fn subscribe<'s>(&self, ctx: &ExtensionContext<'_>, stream: BoxStream<'s, Response>, next: NextSubscribe<'_>) -> BoxStream<'s, Response> {
        // Events are resolved one at a time, so the state gathered by the time an event is yielded
        // is that event's.
        let state = Arc::clone(&self.state);
        next.run(ctx, stream).map(move |response| finish(&state, response)).boxed()
    }

    async fn resolve(&self, ctx: &ExtensionContext<'_>, info: ResolveInfo<'_>, next: NextResolve<'_>) -> ServerResult<Option<Value>> {
        let path = path_of(&info);
        let return_type = info.return_type.to_string();
        let mut value = match next.run(ctx, info).await {
            Ok(value) => value.unwrap_or_default(),
            Err(error) => {
                let mut state = self.state();
                state.errors.push(error);
                if !nullable(&return_type) {
                    state.failed.push(path);
                }
                return Ok(Some(Value::Null));
            }
        };
        let mut state = self.state();
        // Failures below this field that no field in between could absorb: each sits on an object
        // directly inside this field's value, possibly through list items.
        let (below, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut state.failed).into_iter().partition(|f| f.len() > path.len() && f.starts_with(&path));
        state.failed = rest;
        let mut field_failed = false;
        for failure in below {
            let indices: Vec<usize> = failure[path.len()..failure.len() - 1]
                .iter()
                .map_while(|s| match s {
                    PathSegment::Index(i) => Some(*i),
                    PathSegment::Field(_) => None,
                })
                .collect();
            // The types from this field's value down to the object holding the failed field.
            let mut types = vec![return_type.as_str()];
            for _ in &indices {
                match types.last().and_then(|t| item_type(t)) {
                    Some(t) => types.push(t),
                    None => break,
                }
            }
            match (1..types.len()).rev().find(|&depth| nullable(types[depth])) {
                Some(depth) => {
                    if let Some(item) = value_at(&mut value, &indices[..depth]) {
                        *item = Value::Null;
                    }
                }
                None if nullable(&return_type) => value = Value::Null,
                None => field_failed = true,
            }
        }
        if field_failed {
            state.failed.push(path);
            return Ok(Some(Value::Null));
        }
        Ok(Some(value))
    }
}
