//! The message schema is a public contract: the committed JSON Schema and the consumer docs
//! must match the Rust types.

use serde_json::Value;

const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/message.v1.json");
const DOCS_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/schema.md");

#[test]
fn committed_json_schema_matches_the_types() {
    let generated = gateway_shared::schema::json_schema();
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(SCHEMA_FILE).expect("schema/message.v1.json exists"),
    )
    .expect("the committed schema is JSON");
    assert!(
        committed == generated,
        "schema/message.v1.json is out of date: run `make generate`"
    );
}

fn properties(schema: &Value) -> Vec<String> {
    let mut names = Vec::new();
    let mut objects = vec![schema];
    if let Some(defs) = schema["$defs"].as_object() {
        objects.extend(defs.values());
    }
    for object in objects {
        if let Some(props) = object["properties"].as_object() {
            names.extend(props.keys().cloned());
        }
    }
    names
}

#[test]
fn every_field_is_documented() {
    let docs = std::fs::read_to_string(DOCS_FILE).expect("docs/schema.md exists");
    let schema = gateway_shared::schema::json_schema();
    let fields = properties(&schema);
    assert!(fields.len() > 30, "walked the whole schema");
    let missing: Vec<_> = fields
        .iter()
        .filter(|f| !docs.contains(&format!("| `{f}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "fields missing from docs/schema.md: {missing:?}"
    );
    assert!(docs.contains(&format!("**`{}`**", gateway_shared::schema::SCHEMA_VERSION)));
}
