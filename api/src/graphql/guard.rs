//! Write access, enforced where the schema executes: every transport (POST, GET, WebSocket, SSE,
//! any later one) runs operations through `Schema::execute`/`execute_stream`, so every one passes
//! here, and none can forget the check.

use crate::auth::Viewer;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Response, ServerError, ServerResult, Variables};
use std::sync::{Arc, Mutex};

/// Refuses a mutation, before any resolver runs, unless the request's `Viewer` may write.
pub struct WriteGuard;

impl ExtensionFactory for WriteGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(WriteGuardRun::default())
    }
}

/// One request's run: the kind of each operation in its document, noted at parse time (the
/// `execute` hook learns only the chosen operation's name).
#[derive(Default)]
struct WriteGuardRun {
    operations: Mutex<Vec<(Option<String>, OperationType)>>,
}

pub const FORBIDDEN: &str = "FORBIDDEN";

fn forbidden(message: &str) -> Response {
    let mut e = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", FORBIDDEN);
    e.extensions = Some(ext);
    Response::from_errors(vec![e])
}

#[async_trait::async_trait]
impl Extension for WriteGuardRun {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let kinds = match &doc.operations {
            DocumentOperations::Single(op) => vec![(None, op.node.ty)],
            DocumentOperations::Multiple(ops) => ops
                .iter()
                .map(|(name, op)| (Some(name.to_string()), op.node.ty))
                .collect(),
        };
        *self.operations.lock().unwrap_or_else(|p| p.into_inner()) = kinds;
        Ok(doc)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let is_mutation = {
            let operations = self.operations.lock().unwrap_or_else(|p| p.into_inner());
            // The operation async-graphql chose: by name, or the document's only one.
            let chosen = operations
                .iter()
                .find(|(name, _)| name.as_deref() == operation_name)
                .or_else(|| (operations.len() == 1).then(|| &operations[0]));
            // Unknown means the document changed under us; refuse rather than guess.
            chosen.is_none_or(|(_, ty)| *ty == OperationType::Mutation)
        };
        if is_mutation {
            match ctx.data_opt::<Viewer>() {
                Some(v) if v.can_write() => {}
                Some(_) => {
                    return forbidden("this credential may only read (its scopes lack write)")
                }
                None => return forbidden("no caller is known for this operation"),
            }
        }
        next.run(ctx, operation_name).await
    }
}
