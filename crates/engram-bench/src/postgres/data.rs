//! The documents of the PostgreSQL benchmark: about 300 bytes of JSON each,
//! the size of a typical platform record (a user profile, an order).

use serde_json::{Value, json};

const PLANS: [&str; 3] = ["free", "team", "business"];

/// A document of about 300 bytes serialized; `i` is the checksum field.
pub fn doc(n: usize) -> Value {
    json!({
        "i": n,
        "name": format!("user-{n}"),
        "email": format!("user-{n}@example.com"),
        "plan": PLANS[n % 3],
        "tags": ["alpha", "beta", "gamma"],
        "score": (n % 10_000) as f64 / 100.0,
        "active": n.is_multiple_of(2),
        "address": {"street": format!("{} Main Street", n % 1000), "city": "Springfield", "zip": format!("{:05}", n % 100_000)},
        "note": "a plain text note standing in for the free-form part of a record, padding it to its size",
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn documents_are_about_300_bytes() {
        for n in [0, 7, 12_345, 999_999] {
            let len = serde_json::to_string(&super::doc(n)).expect("serializes").len();
            assert!((270..=330).contains(&len), "{len} bytes");
        }
    }
}
