//! Collection shapes of the config file that serde's defaults get wrong for us: mappings whose
//! keys must be unique and keep file order ([`Entries`]), a value that is one item or a list
//! ([`OneOrMany`]), and the `objectives:` mapping whose `pNN` keys are open-ended.
//!
//! All parse inside serde's visitors, so errors carry the YAML location; a duplicate key is
//! reported at the second occurrence.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, StrDeserializer};
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use serde::Deserialize as DeriveDeserialize;

use super::kinds::{
    AfterFailuresKind, AvailabilityKind, LatencyKind, MaxBucketsKind, RateKind, RatioKind,
    SchemaKind,
};
use super::scalar::{Kind, Scalar};
use super::units::{self, quote};
use crate::scenario::Objectives;

/// A mapping with unique keys of kind `K`, in file order (`headers`, `labels`, `fields`, `json`).
pub struct Entries<K: Kind, V>(pub Vec<(K::Value, V)>);

impl<K: Kind, V> Default for Entries<K, V> {
    fn default() -> Self {
        Entries(Vec::new())
    }
}

/// Deserializes one key of kind `K`, refusing it when `seen` says it already occurred.
struct UniqueKey<'a, K: Kind> {
    seen: &'a dyn Fn(&K::Value) -> bool,
}

impl<'de, K: Kind> DeserializeSeed<'de> for UniqueKey<'_, K> {
    type Value = K::Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<K::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<K: Kind> Visitor<'_> for UniqueKey<'_, K> {
    type Value = K::Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(K::EXPECTING)
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<K::Value, E> {
        let key = K::parse(text).map_err(E::custom)?;
        if (self.seen)(&key) {
            return Err(E::custom(format!(
                "duplicate key {}: each key may appear only once",
                quote(text)
            )));
        }
        Ok(key)
    }
}

impl<'de, K, V> Deserialize<'de> for Entries<K, V>
where
    K: Kind,
    K::Value: PartialEq,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

struct EntriesVisitor<K, V>(PhantomData<(K, V)>);

impl<'de, K, V> Visitor<'de> for EntriesVisitor<K, V>
where
    K: Kind,
    K::Value: PartialEq,
    V: Deserialize<'de>,
{
    type Value = Entries<K, V>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a mapping from {}", K::EXPECTING)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries: Vec<(K::Value, V)> = Vec::new();
        loop {
            let seen = |key: &K::Value| entries.iter().any(|(k, _)| k == key);
            let Some(key) = map.next_key_seed(UniqueKey::<K> { seen: &seen })? else {
                break;
            };
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(Entries(entries))
    }
}

/// One value or a list of values of kind `K` (`body_contains: shipped` or `[a, b]`).
pub struct OneOrMany<K: Kind>(pub Vec<K::Value>);

impl<K: Kind> Default for OneOrMany<K> {
    fn default() -> Self {
        OneOrMany(Vec::new())
    }
}

impl<'de, K: Kind> Deserialize<'de> for OneOrMany<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OneOrManyVisitor(PhantomData))
    }
}

struct OneOrManyVisitor<K>(PhantomData<K>);

impl<'de, K: Kind> Visitor<'de> for OneOrManyVisitor<K> {
    type Value = OneOrMany<K>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} or a list of them", K::EXPECTING)
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        let one = Scalar::<K>::deserialize(StrDeserializer::<E>::new(text))?;
        Ok(OneOrMany(vec![one.into_inner()]))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        self.visit_str(&n.to_string())
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        self.visit_str(&n.to_string())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values = Vec::new();
        while let Some(one) = seq.next_element::<Scalar<K>>()? {
            values.push(one.into_inner());
        }
        Ok(OneOrMany(values))
    }
}

/// A key of `objectives:`.
#[derive(Clone, Copy, PartialEq)]
enum ObjectiveKey {
    Latency(f64),
    ErrorRatio,
    Availability,
    CacheHitRatio,
}

/// `pNN`/`pNNN` → quantile `0.NN`, or one of the named ratio objectives.
struct ObjectiveKeyKind;
impl Kind for ObjectiveKeyKind {
    type Value = ObjectiveKey;
    const EXPECTING: &'static str = "an objective name such as p95 or error_ratio";
    fn parse(text: &str) -> Result<ObjectiveKey, String> {
        let quantile = text
            .strip_prefix('p')
            .and_then(units::parse_percentile)
            .filter(|q| *q < 1.0);
        match (text, quantile) {
            (_, Some(q)) => Ok(ObjectiveKey::Latency(q)),
            ("error_ratio", _) => Ok(ObjectiveKey::ErrorRatio),
            ("availability", _) => Ok(ObjectiveKey::Availability),
            ("cache_hit_ratio", _) => Ok(ObjectiveKey::CacheHitRatio),
            _ => Err(format!(
                "unknown objective {}, expected a latency quantile pNN such as p95 or p999, \
                 `error_ratio`, `availability` or `cache_hit_ratio`",
                quote(text)
            )),
        }
    }
}

/// The `objectives:` mapping, parsed straight into the domain's [`Objectives`].
pub struct ObjectivesFile(pub Objectives);

impl<'de> Deserialize<'de> for ObjectivesFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectivesVisitor)
    }
}

struct ObjectivesVisitor;

impl<'de> Visitor<'de> for ObjectivesVisitor {
    type Value = ObjectivesFile;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping of objectives such as {p95: 50ms, error_ratio: 1%}")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys: Vec<ObjectiveKey> = Vec::new();
        let mut out = Objectives::default();
        loop {
            let seen = |key: &ObjectiveKey| keys.contains(key);
            let seed = UniqueKey::<ObjectiveKeyKind> { seen: &seen };
            let Some(key) = map.next_key_seed(seed)? else {
                break;
            };
            match key {
                ObjectiveKey::Latency(q) => {
                    let limit = map.next_value::<Scalar<LatencyKind>>()?.into_inner();
                    out.latency.push((q, limit));
                }
                ObjectiveKey::ErrorRatio => {
                    out.error_ratio = Some(map.next_value::<Scalar<RatioKind>>()?.into_inner())
                }
                ObjectiveKey::Availability => {
                    let ratio = map.next_value::<Scalar<AvailabilityKind>>()?;
                    out.availability = Some(ratio.into_inner());
                }
                ObjectiveKey::CacheHitRatio => {
                    out.cache_hit_ratio = Some(map.next_value::<Scalar<RatioKind>>()?.into_inner())
                }
            }
            keys.push(key);
        }
        out.latency.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(ObjectivesFile(out))
    }
}

/// A feature that is on by default with settings: `off` (or `false`), `true` or a mapping of
/// its settings (`{}` for the defaults). `targets[].backoff`, `global.native_histogram`.
pub enum OffOr<T> {
    /// `off` or `false`.
    Off,
    /// A mapping (absent keys take their defaults), or `true`.
    On(T),
}

/// The settings mapping of an [`OffOr`] feature and how its message shows an example.
pub trait Settings: Default + for<'de> DeriveDeserialize<'de> {
    /// The key, for the message (`backoff`).
    const KEY: &'static str;
    /// An example mapping, for the message (`{after_failures: 5, floor: 1/30s}`).
    const EXAMPLE: &'static str;
}

/// `targets[].backoff`: `off`, or a mapping of the backoff's settings.
pub type BackoffFile = OffOr<BackoffSettingsFile>;

/// The settings of an enabled backoff; absent keys take their defaults.
#[derive(DeriveDeserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BackoffSettingsFile {
    /// Consecutive failed requests before the rate starts halving (default 5).
    pub after_failures: Option<Scalar<AfterFailuresKind>>,
    /// Lowest rate the halving reaches (default 1/30s).
    pub floor: Option<Scalar<RateKind>>,
}

impl Settings for BackoffSettingsFile {
    const KEY: &'static str = "backoff";
    const EXAMPLE: &'static str = "{after_failures: 5, floor: 1/30s}";
}

/// `global.native_histogram`: the native duration histogram's resolution and size.
#[derive(DeriveDeserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NativeHistogramFile {
    /// Buckets per power of two are 2^schema (default 3).
    pub schema: Option<Scalar<SchemaKind>>,
    /// Most populated buckets before the resolution halves (default 160).
    pub max_buckets: Option<Scalar<MaxBucketsKind>>,
}

impl Settings for NativeHistogramFile {
    const KEY: &'static str = "native_histogram";
    const EXAMPLE: &'static str = "{schema: 3, max_buckets: 160}";
}

impl<'de, T: Settings> Deserialize<'de> for OffOr<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(OffOrVisitor(PhantomData))
    }
}

struct OffOrVisitor<T>(PhantomData<T>);

impl<'de, T: Settings> Visitor<'de> for OffOrVisitor<T> {
    type Value = OffOr<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`off` or a mapping such as {}", T::EXAMPLE)
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        match text {
            "off" => Ok(OffOr::Off),
            _ => Err(E::custom(format!(
                "invalid {} {}: expected `off` or a mapping such as {}",
                T::KEY,
                quote(text),
                T::EXAMPLE
            ))),
        }
    }
    fn visit_bool<E: de::Error>(self, on: bool) -> Result<Self::Value, E> {
        match on {
            false => Ok(OffOr::Off),
            true => Ok(OffOr::On(T::default())),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(OffOr::On)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::text::{HeaderNameKind, NameKind};

    #[test]
    fn duplicate_key_is_reported_at_the_second_occurrence() {
        type Headers = Entries<HeaderNameKind, String>;
        let err = serde_yaml::from_str::<Headers>("X-A: 1\nx-b: 2\nx-a: 3\n")
            .err()
            .unwrap();
        let at = err.location().unwrap();
        assert_eq!((at.line(), at.column()), (3, 1));
        assert!(
            err.to_string().starts_with("duplicate key \"x-a\""),
            "{err}"
        );
        let ok: Headers = serde_yaml::from_str("{X-A: 1, X-B: two}").unwrap();
        let names: Vec<&str> = ok.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["x-a", "x-b"]);
    }

    #[test]
    fn one_or_many_accepts_a_scalar_or_a_list() {
        let one: OneOrMany<NameKind> = serde_yaml::from_str("shipped").unwrap();
        assert_eq!(one.0, ["shipped"]);
        let many: OneOrMany<NameKind> = serde_yaml::from_str("[a, 404]").unwrap();
        assert_eq!(many.0, ["a", "404"]);
        let number: OneOrMany<NameKind> = serde_yaml::from_str("404").unwrap();
        assert_eq!(number.0, ["404"]);
        assert!(serde_yaml::from_str::<OneOrMany<NameKind>>("[a, 'b c']").is_err());
    }

    #[test]
    fn objectives_map_quantile_keys_and_refuse_duplicates() {
        let o: ObjectivesFile =
            serde_yaml::from_str("{p99: 200ms, p95: 50ms, p999: 1s, error_ratio: 1%}").unwrap();
        let quantiles: Vec<f64> = o.0.latency.iter().map(|(q, _)| *q).collect();
        assert_eq!(quantiles, [0.95, 0.99, 0.999]);
        assert_eq!(o.0.error_ratio, Some(0.01));
        let err = serde_yaml::from_str::<ObjectivesFile>("{p99: 1s, p990: 2s}")
            .err()
            .unwrap();
        assert!(
            err.to_string().starts_with("duplicate key \"p990\""),
            "{err}"
        );
        let err = serde_yaml::from_str::<ObjectivesFile>("{p95: 1s, latency: 2s}")
            .err()
            .unwrap();
        assert!(
            err.to_string().starts_with("unknown objective \"latency\""),
            "{err}"
        );
        assert!(serde_yaml::from_str::<ObjectivesFile>("{p00: 1s}").is_err());
        assert!(serde_yaml::from_str::<ObjectivesFile>("{p100: 1s}").is_err());
        let o: ObjectivesFile = serde_yaml::from_str("{p5: 1s, p99.9: 2s}").unwrap();
        let quantiles: Vec<f64> = o.0.latency.iter().map(|(q, _)| *q).collect();
        assert_eq!(quantiles, [0.05, 0.999]);
    }

    #[test]
    fn backoff_is_off_or_a_mapping_of_settings() {
        let parse = serde_yaml::from_str::<BackoffFile>;
        assert!(matches!(parse("off"), Ok(BackoffFile::Off)));
        assert!(matches!(parse("false"), Ok(BackoffFile::Off)));
        let Ok(BackoffFile::On(on)) = parse("{after_failures: 3, floor: 1/m}") else {
            panic!("a mapping turns backoff on");
        };
        assert_eq!(on.after_failures.map(Scalar::into_inner), Some(3));
        assert_eq!(on.floor.map(|f| f.0.per_second), Some(1.0 / 60.0));
        let Ok(BackoffFile::On(defaults)) = parse("{}") else {
            panic!("an empty mapping keeps the defaults");
        };
        assert!(defaults.after_failures.is_none() && defaults.floor.is_none());
        for (bad, message) in [
            ("on", "invalid backoff \"on\": expected `off` or a mapping"),
            (
                "5",
                "invalid type: integer `5`, expected `off` or a mapping",
            ),
            (
                "{after: 5}",
                "unknown field `after`, expected `after_failures` or `floor`",
            ),
            (
                "{after_failures: 0}",
                "after_failures: invalid after_failures \"0\"",
            ),
        ] {
            let err = parse(bad).err().unwrap().to_string();
            assert!(err.starts_with(message), "{bad}: {err}");
        }
    }
}
