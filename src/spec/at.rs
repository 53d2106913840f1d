//! `At<T>`: a value with the line and column it came from in a YAML file.
//!
//! serde-saphyr's `Spanned` carries positions but has no JSON Schema and a
//! serialized form of its own; `At` wraps it so the schema and any serialized
//! output show just the value, while validation can still point at the source.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

/// A value and where it stood in its file (1-based; 0 when unknown).
#[derive(Debug, Clone, Default)]
pub struct At<T> {
    pub value: T,
    pub line: u32,
    pub col: u32,
}

impl<T> At<T> {
    /// A value with no source position (built in code, e.g. defaults and tests).
    pub fn bare(value: T) -> Self {
        At { value, line: 0, col: 0 }
    }
}

impl<T> std::ops::Deref for At<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for At<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = serde_saphyr::Spanned::<T>::deserialize(d)?;
        Ok(At { line: s.referenced.line() as u32, col: s.referenced.column() as u32, value: s.value })
    }
}

impl<T: Serialize> Serialize for At<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<T: JsonSchema> JsonSchema for At<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        T::json_schema(g)
    }
}

// Equality and order look at the value only, so `At<String>` can key a map.
impl<T: PartialEq> PartialEq for At<T> {
    fn eq(&self, o: &Self) -> bool {
        self.value == o.value
    }
}
impl<T: Eq> Eq for At<T> {}
impl<T: PartialOrd> PartialOrd for At<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        self.value.partial_cmp(&o.value)
    }
}
impl<T: Ord> Ord for At<T> {
    fn cmp(&self, o: &Self) -> Ordering {
        self.value.cmp(&o.value)
    }
}
impl<T: Hash> Hash for At<T> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.value.hash(h)
    }
}
