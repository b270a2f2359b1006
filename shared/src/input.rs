//! Strict parsing of client input: JSON that is malformed, has unknown fields, wrong types or
//! out-of-range numbers is refused with the field it concerns, never half-accepted.

use serde::de::DeserializeOwned;

/// Longest request body we parse, in bytes. Every request body in API.md is tiny.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Bad input, naming the field (a dotted path, empty for the body as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if field.is_empty() { String::new() } else { format!("{field}: ") })]
pub struct InvalidInput {
    pub field: String,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Parses a JSON document into `T`; types used here carry `#[serde(deny_unknown_fields)]`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, InvalidInput> {
    if bytes.len() > MAX_BODY_BYTES {
        return Err(InvalidInput::new(
            "",
            format!("body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(InvalidInput::new("", "a JSON body is required"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        InvalidInput::new(field, strip_position(&e.into_inner().to_string()))
    })
}

/// Like [`parse_json`] for a value already parsed, naming fields under `prefix`.
pub fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, InvalidInput> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            prefix.to_owned()
        } else {
            format!("{prefix}.{path}")
        };
        InvalidInput::new(field, strip_position(&e.into_inner().to_string()))
    })
}

/// serde_json appends " at line 1 column 9", which means nothing to an API client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A required string field: not blank, at most `max_bytes`.
pub fn bounded_str(field: &str, value: &str, max_bytes: usize) -> Result<(), InvalidInput> {
    if value.trim().is_empty() {
        return Err(InvalidInput::new(field, "must not be empty"));
    }
    if value.len() > max_bytes {
        return Err(InvalidInput::new(
            field,
            format!("must be at most {max_bytes} bytes"),
        ));
    }
    Ok(())
}

/// A number within `range`.
pub fn in_range(
    field: &str,
    value: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, InvalidInput> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(InvalidInput::new(
            field,
            format!("must be between {} and {}", range.start(), range.end()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Req {
        count: u64,
        inner: Option<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_json::<Req>(br#"{"count": -1}"#).unwrap_err();
        assert_eq!(e.field, "count");
        let e = parse_json::<Req>(br#"{"count": 18446744073709551616}"#).unwrap_err();
        assert_eq!(e.field, "count");
        let e = parse_json::<Req>(br#"{"count": 1, "inner": {"n": "x"}}"#).unwrap_err();
        assert_eq!(e.field, "inner.n");
        assert!(!e.message.contains("line"), "{}", e.message);
        let e = parse_json::<Req>(br#"{"count": 1, "extra": 2}"#).unwrap_err();
        assert!(e.message.contains("unknown field `extra`"), "{}", e.message);
    }

    #[test]
    fn empty_oversized_and_broken_bodies_are_refused() {
        assert!(parse_json::<Req>(b"  ").is_err());
        assert!(parse_json::<Req>(b"{").is_err());
        assert!(parse_json::<Req>(&vec![b' '; MAX_BODY_BYTES + 1]).is_err());
        assert!(parse_json::<Req>(&[0xff, 0xfe]).is_err());
    }
}
