//! Prints the OpenAPI document: `cargo run -q -p livepay-shared --example openapi > docs/openapi.json`.

fn main() {
    println!("{}", livepay::api::openapi::document());
}
