//! Where the records are in an answer's body.

use serde_json::Value;

use crate::{Error, Result};

/// Take the records at `pointer` out of `body`: an array there is the
/// records, an object is one record; `""` is the body itself. Anything
/// else is a config error naming the pointer.
///
/// ```
/// use wharf_sdk::rest::records_at;
/// let mut body = serde_json::json!({"data": {"items": [{"id": 1}, {"id": 2}]}});
/// assert_eq!(records_at(&mut body, "/data/items").unwrap().len(), 2);
/// assert!(records_at(&mut body, "/nope").is_err());
/// ```
pub fn records_at(body: &mut Value, pointer: &str) -> Result<Vec<Value>> {
    let target = if pointer.is_empty() {
        Some(body)
    } else {
        body.pointer_mut(pointer)
    };
    match target {
        Some(Value::Array(items)) => Ok(std::mem::take(items)),
        Some(v @ Value::Object(_)) => Ok(vec![v.take()]),
        Some(Value::Null) => Ok(Vec::new()),
        _ => Err(Error::Config(format!(
            "the response has no records at JSON pointer `{pointer}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arrays_objects_and_nulls() {
        let mut body = json!([{"a": 1}]);
        assert_eq!(records_at(&mut body, "").unwrap(), vec![json!({"a": 1})]);
        let mut body = json!({"data": {"id": 7}, "none": null, "n": 3});
        assert_eq!(
            records_at(&mut body, "/data").unwrap(),
            vec![json!({"id": 7})]
        );
        assert!(records_at(&mut body, "/none").unwrap().is_empty());
        let e = records_at(&mut body, "/n").unwrap_err();
        assert!(matches!(e, Error::Config(m) if m.contains("/n")));
    }
}
