//! Top-level `x-*` keys of berth.yaml and app files: allowed and ignored, as
//! in compose, so YAML anchors have a place to live (`x-env: &env {…}`, then
//! `env: *env`). Every other unknown key stays an error.
//!
//! `AppSpec` and `Settings` derive their field handling with
//! `#[serde(remote = "Self")]` and deserialize through [`SkipExtensions`],
//! which hides `x-*` entries from the derived code. The YAML parser has seen
//! them by then, so aliases to anchors defined under them still resolve.

use serde::de::value::StringDeserializer;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;

/// A deserializer whose top-level mapping lacks its `x-*` entries.
pub struct SkipExtensions<D>(pub D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for SkipExtensions<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(SkipVisitor(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, SkipVisitor(visitor))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// Passes a mapping on without its `x-*` entries; anything else is refused
/// with the wrapped visitor's own words ("struct AppSpec").
struct SkipVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for SkipVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(SkipMap(map))
    }
}

struct SkipMap<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkipMap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.0.next_key::<String>()? else { return Ok(None) };
            if key.starts_with("x-") {
                self.0.next_value::<IgnoredAny>()?;
                continue;
            }
            return seed.deserialize(StringDeserializer::new(key)).map(Some);
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}

/// `Deserialize` (through [`SkipExtensions`]) and `Serialize` for a type whose
/// derives are `remote = "Self"`.
macro_rules! top_level {
    ($ty:ty) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$ty>::deserialize(crate::spec::extensions::SkipExtensions(d))
            }
        }
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                <$ty>::serialize(self, s)
            }
        }
    };
}
pub(super) use top_level;
