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

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, NextSubscribe,
    ResolveInfo,
};
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
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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

fn path_of(node: &async_graphql::QueryPathNode<'_>) -> Vec<PathSegment> {
    let mut path: Vec<PathSegment> = std::iter::once(node)
        .chain(node.parents())
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
    ty.strip_suffix('!')
        .unwrap_or(ty)
        .strip_prefix('[')?
        .strip_suffix(']')
}

fn value_at<'v>(value: &'v mut Value, indices: &[usize]) -> Option<&'v mut Value> {
    indices.iter().try_fold(value, |v, &i| match v {
        Value::List(items) => items.get_mut(i),
        _ => None,
    })
}

#[async_graphql::async_trait::async_trait]
impl Extension for Propagator {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        finish(&self.state, response)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        // Events are resolved one at a time, so the state gathered by the time an event is yielded
        // is that event's.
        let state = Arc::clone(&self.state);
        next.run(ctx, stream)
            .map(move |response| finish(&state, response))
            .boxed()
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // Both outlive `info`: they borrow from the executor's frame, not from `info`.
        let (path_node, return_type) = (info.path_node, info.return_type);
        if let async_graphql::QueryPathSegment::Index(_) = path_node.segment {
            // A list item. Its `return_type` is not reliable (a `[Item]` item reports `Item!`), so
            // the enclosing field, whose type comes from the schema, decides what to null.
            return match next.run(ctx, info).await {
                Ok(value) => Ok(value),
                Err(error) => {
                    let mut state = self.state();
                    state.errors.push(error);
                    // As if a non-null field inside the item had failed: the item must go.
                    let mut below_item = path_of(path_node);
                    below_item.push(PathSegment::Field(String::new()));
                    state.failed.push(below_item);
                    Ok(Some(Value::Null))
                }
            };
        }
        let mut value = match next.run(ctx, info).await {
            Ok(value) => value.unwrap_or_default(),
            Err(error) => {
                let mut state = self.state();
                state.errors.push(error);
                if !nullable(return_type) {
                    state.failed.push(path_of(path_node));
                }
                return Ok(Some(Value::Null));
            }
        };
        let mut state = self.state();
        // The common case, checked before any path is built: nothing below failed.
        if state.failed.is_empty() {
            return Ok(Some(value));
        }
        let path = path_of(path_node);
        // Failures below this field that no field in between could absorb: each sits on an object
        // directly inside this field's value, possibly through list items.
        let (below, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut state.failed)
            .into_iter()
            .partition(|f| f.len() > path.len() && f.starts_with(&path));
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
            let mut types = vec![return_type];
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
                None if nullable(return_type) => value = Value::Null,
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

#[cfg(test)]
mod tests {
    use super::NullPropagation;
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
    use serde_json::json;

    struct Item(i32);

    #[Object]
    impl Item {
        async fn n(&self) -> i32 {
            self.0
        }
        /// Non-null, and fails for odd items.
        async fn even(&self) -> async_graphql::Result<i32> {
            if self.0 % 2 == 0 {
                Ok(self.0)
            } else {
                Err(format!("{} is odd", self.0).into())
            }
        }
    }

    struct Query;

    #[Object]
    impl Query {
        async fn ok(&self) -> i32 {
            1
        }
        /// `[Item]!`: a failed item is nulled alone.
        async fn loose(&self) -> Vec<Option<Item>> {
            vec![Some(Item(2)), Some(Item(3))]
        }
        /// `[Item!]`: a failed item nulls the list.
        async fn strict(&self) -> Option<Vec<Item>> {
            Some(vec![Item(2), Item(3)])
        }
        /// `[Item!]!`: nothing nullable below the root.
        async fn rigid(&self) -> Vec<Item> {
            vec![Item(3)]
        }
        async fn maybe(&self) -> async_graphql::Result<Option<i32>> {
            Err("no".into())
        }
    }

    async fn run(query: &str) -> serde_json::Value {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(NullPropagation)
            .finish();
        serde_json::to_value(schema.execute(query).await).expect("json")
    }

    fn paths(body: &serde_json::Value) -> Vec<serde_json::Value> {
        body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["path"].clone())
            .collect()
    }

    #[tokio::test]
    async fn a_failed_item_of_a_list_of_nullable_items_is_nulled_alone() {
        let body = run("{ ok loose { n even } }").await;
        assert_eq!(
            body["data"],
            json!({ "ok": 1, "loose": [{ "n": 2, "even": 2 }, null] })
        );
        assert_eq!(paths(&body), [json!(["loose", 1, "even"])]);
    }

    #[tokio::test]
    async fn a_failed_item_of_non_null_items_nulls_the_nullable_list() {
        let body = run("{ ok strict { n even } }").await;
        assert_eq!(body["data"], json!({ "ok": 1, "strict": null }));
        assert_eq!(paths(&body), [json!(["strict", 1, "even"])]);
    }

    #[tokio::test]
    async fn with_no_nullable_ancestor_data_is_null() {
        let body = run("{ ok rigid { even } }").await;
        assert_eq!(body["data"], json!(null));
        assert_eq!(paths(&body), [json!(["rigid", 0, "even"])]);
    }

    #[tokio::test]
    async fn a_failed_nullable_field_keeps_its_key() {
        let body = run("{ ok maybe }").await;
        assert_eq!(body["data"], json!({ "ok": 1, "maybe": null }));
        assert_eq!(paths(&body), [json!(["maybe"])]);
        assert_eq!(
            run("{ ok }").await,
            json!({ "data": { "ok": 1 } }),
            "no error, nothing added"
        );
    }
}
