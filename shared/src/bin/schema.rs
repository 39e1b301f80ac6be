//! Prints the JSON Schema of the message document; `schema/message.v1.json` is its output.

fn main() {
    let schema = gateway_shared::schema::json_schema();
    println!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("a schema is JSON")
    );
}
