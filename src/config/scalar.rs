//! Typed scalars parsed *inside* deserialization, so serde_yaml's error carries the line and
//! column of the offending value.
//!
//! Why not `#[serde(try_from = "String")]`: its conversion runs after the string was read, and
//! serde_yaml then attributes the error to the enclosing mapping (the start of `targets[0]`,
//! not the `rate:` value). A visitor that parses in `visit_str` fails while the scalar is the
//! current event, so the location is exact, in block and flow style alike. Every kind here and
//! in [`super::kinds`] and [`super::text`] goes through that one visitor.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// One kind of config value written as a YAML scalar: how to parse it and what to say when it
/// is not a scalar at all.
pub trait Kind {
    /// The parsed value.
    type Value;
    /// Completes serde's "invalid type: map, expected …" message.
    const EXPECTING: &'static str;
    /// Parses and range-checks the scalar's text; the message says what was found and expected.
    fn parse(text: &str) -> Result<Self::Value, String>;
}

/// A value of kind `K`, already parsed and checked. Numbers, booleans and strings in YAML all
/// arrive as their source text, so `weight: "5"` and `weight: 5` are the same.
pub struct Scalar<K: Kind>(pub K::Value);

impl<K: Kind> Scalar<K> {
    /// The parsed value.
    pub fn into_inner(self) -> K::Value {
        self.0
    }
}

impl<'de, K: Kind> Deserialize<'de> for Scalar<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(ScalarVisitor::<K>(PhantomData))
    }
}

struct ScalarVisitor<K>(PhantomData<K>);

impl<K: Kind> Visitor<'_> for ScalarVisitor<K> {
    type Value = Scalar<K>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(K::EXPECTING)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        K::parse(text).map(Scalar).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Even;
    impl Kind for Even {
        type Value = u32;
        const EXPECTING: &'static str = "an even number";
        fn parse(text: &str) -> Result<u32, String> {
            match text.parse::<u32>() {
                Ok(n) if n % 2 == 0 => Ok(n),
                _ => Err(format!("{text:?} is not even")),
            }
        }
    }

    #[derive(serde::Deserialize)]
    struct Doc {
        #[allow(dead_code)]
        a: u32,
        n: Vec<Scalar<Even>>,
    }

    #[test]
    fn error_points_at_the_value_in_block_and_flow_style() {
        for (yaml, line, column) in [
            ("a: 1\nn:\n  - 2\n  - 3\n", 4, 5),
            ("{a: 1, n: [2, 3]}", 1, 15),
        ] {
            let err = serde_yaml::from_str::<Doc>(yaml).err().unwrap();
            let at = err.location().unwrap();
            assert_eq!((at.line(), at.column()), (line, column), "{yaml}");
            assert!(
                err.to_string().starts_with("n[1]: \"3\" is not even"),
                "{err}"
            );
        }
        let doc: Doc = serde_yaml::from_str("{a: 1, n: [2, \"4\"]}").unwrap();
        let values: Vec<u32> = doc.n.into_iter().map(Scalar::into_inner).collect();
        assert_eq!(values, [2, 4]);
    }

    #[test]
    fn non_scalar_says_what_was_expected() {
        let err = serde_yaml::from_str::<Doc>("a: 1\nn: [{x: 1}]")
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("n[0]: invalid type: map, expected an even number"),
            "{err}"
        );
    }
}
