//! `schema.graphql` is generated from the code and committed; this fails when they drift.
//! Regenerate with `UPDATE_SCHEMA=1 cargo test -p almanac-api --test schema`.

use async_graphql::parser::types::{InputValueDefinition, TypeKind, TypeSystemDefinition};
use async_graphql::Positioned;

#[test]
fn committed_schema_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let generated = almanac_api::graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &generated).expect("write schema.graphql");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema.graphql is out of date with the code; run `UPDATE_SCHEMA=1 cargo test -p almanac-api --test schema` and commit the result"
    );
}

/// The SDL is the only documentation most frontend developers read (GraphiQL, codegen'd types,
/// IDE hovers), so every element the schema defines must say what it is. Built-in scalars and
/// directives are the spec's and documented there.
#[test]
fn every_schema_element_has_a_description() {
    const BUILT_IN_SCALARS: [&str; 5] = ["String", "Int", "Float", "Boolean", "ID"];
    const BUILT_IN_DIRECTIVES: [&str; 5] =
        ["include", "skip", "deprecated", "specifiedBy", "oneOf"];

    let sdl = almanac_api::graphql::sdl();
    let document = async_graphql::parser::parse_schema(&sdl).expect("the generated SDL parses");
    let described =
        |d: &Option<Positioned<String>>| d.as_ref().is_some_and(|d| !d.node.trim().is_empty());
    let mut missing = Vec::new();
    let check_inputs =
        |owner: &str, values: &[Positioned<InputValueDefinition>], missing: &mut Vec<String>| {
            for value in values {
                if !described(&value.node.description) {
                    missing.push(format!("{owner}({})", value.node.name.node));
                }
            }
        };
    let mut checked = 0usize;
    for definition in &document.definitions {
        match definition {
            TypeSystemDefinition::Type(ty) => {
                let ty = &ty.node;
                let name = ty.name.node.as_str();
                if name.starts_with("__") || BUILT_IN_SCALARS.contains(&name) {
                    continue;
                }
                checked += 1;
                if !described(&ty.description) {
                    missing.push(format!("type {name}"));
                }
                match &ty.kind {
                    TypeKind::Object(async_graphql::parser::types::ObjectType {
                        fields, ..
                    })
                    | TypeKind::Interface(async_graphql::parser::types::InterfaceType {
                        fields,
                        ..
                    }) => {
                        for field in fields {
                            checked += 1;
                            let field = &field.node;
                            if !described(&field.description) {
                                missing.push(format!("{name}.{}", field.name.node));
                            }
                            checked += field.arguments.len();
                            check_inputs(
                                &format!("{name}.{}", field.name.node),
                                &field.arguments,
                                &mut missing,
                            );
                        }
                    }
                    TypeKind::InputObject(input) => {
                        checked += input.fields.len();
                        for field in &input.fields {
                            if !described(&field.node.description) {
                                missing.push(format!("{name}.{}", field.node.name.node));
                            }
                        }
                    }
                    TypeKind::Enum(values) => {
                        checked += values.values.len();
                        for value in &values.values {
                            if !described(&value.node.description) {
                                missing.push(format!("{name}.{}", value.node.value.node));
                            }
                        }
                    }
                    TypeKind::Scalar | TypeKind::Union(_) => {}
                }
            }
            TypeSystemDefinition::Directive(directive) => {
                let directive = &directive.node;
                let name = directive.name.node.as_str();
                if BUILT_IN_DIRECTIVES.contains(&name) {
                    continue;
                }
                checked += 1 + directive.arguments.len();
                if !described(&directive.description) {
                    missing.push(format!("directive @{name}"));
                }
                check_inputs(&format!("@{name}"), &directive.arguments, &mut missing);
            }
            TypeSystemDefinition::Schema(_) => {}
        }
    }
    // Guards the walk itself: a parser change that yields nothing must not pass vacuously.
    assert!(
        checked > 300,
        "only {checked} schema elements were found; the walk is broken"
    );
    assert!(
        missing.is_empty(),
        "{} of {checked} schema elements have no description:\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}
