//! `schema.graphql` is generated from the code and committed; this fails when they drift.
//! Regenerate with `UPDATE_SCHEMA=1 cargo test -p almanac-api --test schema`.

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
