//! engram CLI.
fn main() {}
