//! What a query costs, measured from the document before anything executes, on every transport.
//!
//! async-graphql's own complexity counts every field once, whatever the page size above it, so a
//! 266-byte query nesting two `first: 1000` connections passes a limit of 1,000 and resolves 10^6
//! nodes. Its visitor also expands fragment spreads inline, so a 1 KB document whose fragments each
//! spread the previous one twice takes seconds to walk (as do its recursion-depth and directive
//! checks) before it is refused.
//!
//! This extension runs in `prepare_request`, ahead of all of those: it bounds the document's bytes
//! and tokens, then measures each fragment once (memoized), so the walk is linear in the document
//! whatever its spreads expand to. A field that takes `first`/`last` multiplies the cost of
//! everything below it by the page size asked for (or the default), as GitHub's node limit and
//! Shopify's calculated cost do. Documents past any limit are refused with `QUERY_TOO_COMPLEX`;
//! every other answer reports `extensions.cost: { requested, limit }`. Because the expanded field
//! count is bounded here, async-graphql's later (inline) walks are bounded too.

use crate::config::QueryLimits;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextRequest,
};
use async_graphql::parser::types::{
    BaseType, ExecutableDocument, OperationType, Selection, SelectionSet, TypeKind,
    TypeSystemDefinition,
};
use async_graphql::{
    Name, Positioned, Request, Response, ServerError, ServerResult, Value, Variables,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// What a paged field the schema builder did not describe counts as without `first`/`last`, and
/// the most it counts as with them.
pub const DEFAULT_PAGE_COST: u64 = 100;
pub const MAX_PAGE_COST: u64 = 2000;
/// Selection sets and fragment spreads nested deeper than this are refused: the measure recurses,
/// and no real query comes near (field depth alone is capped at `MAX_DEPTH`).
const MAX_NESTING: usize = 64;

/// A paged field's page sizes, as its resolver applies them.
#[derive(Clone, Copy)]
pub struct PageSizes {
    /// The page size when neither `first` nor `last` is given.
    pub default: u64,
    /// The largest page it serves: a larger `first`/`last` is refused by the resolver
    /// (`RANGE_TOO_LARGE`) and resolves nothing, so it counts as this much at most.
    pub max: u64,
}

/// One field of the schema as the measure needs it.
struct FieldShape {
    /// The named type it returns (lists and non-null unwrapped).
    ty: String,
    /// For a paged field (one taking `first`).
    page: Option<PageSizes>,
}

/// The schema's object and interface fields, read once from its SDL.
#[derive(Default)]
pub struct SchemaShape {
    types: HashMap<String, HashMap<String, FieldShape>>,
    roots: [String; 3],
}

impl SchemaShape {
    /// `pages` gives the page sizes of paged fields by type and field name; others taking `first`
    /// count its SDL default (or `DEFAULT_PAGE_COST`) and at most `MAX_PAGE_COST`.
    pub fn from_sdl(sdl: &str, pages: &[(&str, &str, PageSizes)]) -> SchemaShape {
        let mut shape = SchemaShape {
            types: HashMap::new(),
            roots: ["Query".into(), "Mutation".into(), "Subscription".into()],
        };
        let Ok(doc) = async_graphql::parser::parse_schema(sdl) else {
            return shape;
        };
        for definition in doc.definitions {
            match definition {
                TypeSystemDefinition::Schema(s) => {
                    let s = s.node;
                    for (slot, name) in [(0, s.query), (1, s.mutation), (2, s.subscription)] {
                        if let Some(name) = name {
                            shape.roots[slot] = name.node.to_string();
                        }
                    }
                }
                TypeSystemDefinition::Type(t) => {
                    let fields = match t.node.kind {
                        TypeKind::Object(o) => o.fields,
                        TypeKind::Interface(i) => i.fields,
                        _ => continue,
                    };
                    let type_name = t.node.name.node.to_string();
                    let fields = fields.into_iter().map(|f| {
                        let f = f.node;
                        let described = pages
                            .iter()
                            .find(|(t, name, _)| *t == type_name && *name == f.name.node.as_str())
                            .map(|(_, _, p)| *p);
                        let page = f
                            .arguments
                            .iter()
                            .find(|a| a.node.name.node == "first")
                            .map(|a| {
                                described.unwrap_or_else(|| {
                                    let default =
                                        match a.node.default_value.as_ref().map(|v| &v.node) {
                                            Some(Value::Number(n)) => {
                                                n.as_u64().unwrap_or(DEFAULT_PAGE_COST)
                                            }
                                            _ => DEFAULT_PAGE_COST,
                                        };
                                    PageSizes {
                                        default,
                                        max: MAX_PAGE_COST.max(default),
                                    }
                                })
                            });
                        let mut ty = &f.ty.node.base;
                        let named = loop {
                            match ty {
                                BaseType::Named(n) => break n.to_string(),
                                BaseType::List(inner) => ty = &inner.base,
                            }
                        };
                        (f.name.node.to_string(), FieldShape { ty: named, page })
                    });
                    let fields = fields.collect();
                    shape.types.insert(type_name, fields);
                }
                _ => {}
            }
        }
        shape
    }

    fn field(&self, ty: Option<&str>, name: &str) -> Option<&FieldShape> {
        self.types.get(ty?)?.get(name)
    }
}

/// A document's measure. All saturating: a doubling fragment chain overflows nothing.
#[derive(Clone, Copy, Default)]
struct Measure {
    /// Fields resolved, each multiplied by the page sizes above it.
    cost: u64,
    /// Fields selected once fragments are expanded (what async-graphql's own walks visit).
    fields: u64,
    /// Fragment spreads once expanded.
    spreads: u64,
}

impl Measure {
    fn add(&mut self, other: Measure) {
        self.cost = self.cost.saturating_add(other.cost);
        self.fields = self.fields.saturating_add(other.fields);
        self.spreads = self.spreads.saturating_add(other.spreads);
    }
}

struct Measurer<'d> {
    doc: &'d ExecutableDocument,
    shape: &'d SchemaShape,
    variables: &'d Variables,
    /// Each fragment's measure, computed once; `None` while it is being measured (a cycle, which
    /// validation refuses later, counts nothing here).
    fragments: HashMap<&'d str, Option<Measure>>,
    variable_defaults: HashMap<&'d str, &'d Value>,
}

struct TooDeep;

impl<'d> Measurer<'d> {
    fn page_size(&self, field: &'d async_graphql::parser::types::Field, page: PageSizes) -> u64 {
        let sizes = ["first", "last"].map(|arg| {
            let value = field.get_argument(arg)?;
            let resolved = value.node.clone().into_const_with(|v| {
                self.variables
                    .get(&v)
                    .or_else(|| self.variable_defaults.get(v.as_str()).copied())
                    .cloned()
                    .ok_or(())
            });
            let number = match resolved {
                Ok(Value::Number(n)) => n.as_i64(),
                _ => None,
            }?;
            // A negative size is refused by the resolver; it resolves nothing.
            Some((number.max(0) as u64).min(page.max))
        });
        match sizes {
            [None, None] => page.default,
            [a, b] => a.unwrap_or(0).max(b.unwrap_or(0)),
        }
    }

    fn selection_set(
        &mut self,
        set: &'d Positioned<SelectionSet>,
        ty: Option<&'d str>,
        nesting: usize,
    ) -> Result<Measure, TooDeep> {
        if nesting > MAX_NESTING {
            return Err(TooDeep);
        }
        let mut total = Measure::default();
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let shape = self.shape.field(ty, field.name.node.as_str());
                    let child_ty = shape.map(|s| s.ty.as_str());
                    let children =
                        self.selection_set(&field.selection_set, child_ty, nesting + 1)?;
                    let per_item = match shape.and_then(|s| s.page) {
                        Some(page) => self.page_size(field, page),
                        None => 1,
                    };
                    total.add(Measure {
                        cost: per_item.saturating_mul(children.cost).saturating_add(1),
                        fields: children.fields.saturating_add(1),
                        spreads: children.spreads,
                    });
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let ty = inline
                        .type_condition
                        .as_ref()
                        .map(|c| c.node.on.node.as_str())
                        .or(ty);
                    total.add(self.selection_set(&inline.selection_set, ty, nesting + 1)?);
                }
                Selection::FragmentSpread(spread) => {
                    total.spreads = total.spreads.saturating_add(1);
                    total.add(self.fragment(&spread.node.fragment_name.node, nesting + 1)?);
                }
            }
        }
        Ok(total)
    }

    fn fragment(&mut self, name: &'d Name, nesting: usize) -> Result<Measure, TooDeep> {
        match self.fragments.get(name.as_str()) {
            Some(Some(measure)) => return Ok(*measure),
            Some(None) => return Ok(Measure::default()),
            None => {}
        }
        // Unknown fragments are refused by validation.
        let Some(fragment) = self.doc.fragments.get(name) else {
            return Ok(Measure::default());
        };
        self.fragments.insert(name.as_str(), None);
        let measure = self.selection_set(
            &fragment.node.selection_set,
            Some(fragment.node.type_condition.node.on.node.as_str()),
            nesting,
        )?;
        self.fragments.insert(name.as_str(), Some(measure));
        Ok(measure)
    }
}

/// Every operation in the document is measured (validation walks them all), summed.
fn measure(
    doc: &ExecutableDocument,
    shape: &SchemaShape,
    variables: &Variables,
) -> Result<Measure, TooDeep> {
    let mut measurer = Measurer {
        doc,
        shape,
        variables,
        fragments: HashMap::new(),
        variable_defaults: HashMap::new(),
    };
    let mut total = Measure::default();
    for (_, operation) in doc.operations.iter() {
        let operation = &operation.node;
        measurer.variable_defaults = operation
            .variable_definitions
            .iter()
            .filter_map(|d| {
                Some((
                    d.node.name.node.as_str(),
                    &d.node.default_value.as_ref()?.node,
                ))
            })
            .collect();
        let root = match operation.ty {
            OperationType::Query => 0,
            OperationType::Mutation => 1,
            OperationType::Subscription => 2,
        };
        total.add(measurer.selection_set(
            &operation.selection_set,
            Some(shape.roots[root].as_str()),
            0,
        )?);
    }
    Ok(total)
}

/// GraphQL tokens in `query`, counted up to `limit + 1` without parsing: names and numbers,
/// strings and block strings, punctuators; whitespace, commas and comments are not tokens.
fn count_tokens(query: &str, limit: usize) -> usize {
    let bytes = query.as_bytes();
    let (mut i, mut tokens) = (0, 0);
    while i < bytes.len() && tokens <= limit {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => i += 3,
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || matches!(bytes[i], b'_' | b'-' | b'+' | b'.'))
                    && !bytes[i..].starts_with(b"...")
                {
                    i += 1;
                }
            }
            // Punctuators, and any other character (which the parser refuses) as one token.
            _ => i += query[i..].chars().next().map_or(1, char::len_utf8),
        }
        tokens += 1;
    }
    tokens
}

fn too_complex(
    message: String,
    limit_name: &str,
    requested: Option<u64>,
    limit: u64,
) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", "QUERY_TOO_COMPLEX");
    ext.set("limit", limit_name);
    let mut cost = async_graphql::indexmap::IndexMap::new();
    if let Some(requested) = requested {
        cost.insert(Name::new("requested"), Value::from(requested));
    }
    cost.insert(Name::new("limit"), Value::from(limit));
    ext.set(limit_name, Value::Object(cost));
    error.extensions = Some(ext);
    error
}

/// The extension factory; the schema's shape is filled in once the schema is built (its SDL is
/// only known then).
pub struct QueryCost {
    pub limits: QueryLimits,
    pub shape: Arc<OnceLock<SchemaShape>>,
}

impl ExtensionFactory for QueryCost {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostOfRequest {
            limits: self.limits,
            shape: Arc::clone(&self.shape),
            measured: Mutex::new(None),
        })
    }
}

struct CostOfRequest {
    limits: QueryLimits,
    shape: Arc<OnceLock<SchemaShape>>,
    /// The cost measured in `prepare_request`, reported in the response's extensions.
    measured: Mutex<Option<u64>>,
}

impl CostOfRequest {
    fn check(&self, request: &mut Request) -> ServerResult<()> {
        let limits = &self.limits;
        if request.query.len() > limits.max_query_bytes {
            return Err(too_complex(
                format!(
                    "the query document is {} bytes; at most {} are allowed",
                    request.query.len(),
                    limits.max_query_bytes
                ),
                "documentBytes",
                Some(request.query.len() as u64),
                limits.max_query_bytes as u64,
            ));
        }
        let tokens = count_tokens(&request.query, limits.max_query_tokens);
        if tokens > limits.max_query_tokens {
            return Err(too_complex(
                format!(
                    "the query document has more than {} tokens",
                    limits.max_query_tokens
                ),
                "tokens",
                None,
                limits.max_query_tokens as u64,
            ));
        }
        let variables = request.variables.clone();
        // A document that does not parse is left to async-graphql, which reports where.
        let Ok(doc) = request.parsed_query() else {
            return Ok(());
        };
        let empty = SchemaShape::default();
        let shape = self.shape.get().unwrap_or(&empty);
        let Ok(m) = measure(doc, shape, &variables) else {
            return Err(too_complex(
                format!("the query nests selections or fragments more than {MAX_NESTING} deep"),
                "nesting",
                None,
                MAX_NESTING as u64,
            ));
        };
        if m.spreads > limits.max_query_fragment_spreads {
            return Err(too_complex(
                format!(
                    "the query expands to {} fragment spreads; at most {} are allowed",
                    m.spreads, limits.max_query_fragment_spreads
                ),
                "fragmentSpreads",
                Some(m.spreads),
                limits.max_query_fragment_spreads,
            ));
        }
        if m.fields > limits.max_query_fields {
            return Err(too_complex(format!("the query selects {} fields once fragments are expanded; at most {} are allowed", m.fields, limits.max_query_fields), "fields", Some(m.fields), limits.max_query_fields));
        }
        *self.measured.lock().unwrap_or_else(|p| p.into_inner()) = Some(m.cost);
        if m.cost > limits.max_query_cost {
            return Err(too_complex(format!("the query costs {} (fields resolved, multiplied by the page sizes above them); the limit is {}", m.cost, limits.max_query_cost), "cost", Some(m.cost), limits.max_query_cost));
        }
        Ok(())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for CostOfRequest {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.check(&mut request)?;
        next.run(ctx, request).await
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        let measured = *self.measured.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(requested) = measured {
            response.extensions.insert("cost".into(), async_graphql::value!({ "requested": requested, "limit": self.limits.max_query_cost }));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_counted_as_graphql_lexes_them() {
        assert_eq!(
            count_tokens("{ a(first: 10, s: \"x y, z\") { ...F } } # c d e", 100),
            15
        );
        assert_eq!(
            count_tokens("query Q($v: [Int!] = [-1.5e3]) { f }", 100),
            18
        );
        assert_eq!(count_tokens("{ a } \"\"\"block \\\"\"\" b\"\"\"", 100), 4);
        // Counting stops just past the limit.
        assert_eq!(count_tokens(&"a ".repeat(1000), 10), 11);
    }
}
