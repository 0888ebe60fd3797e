//! What evaluation compares conditions with.

use std::{
    borrow::Borrow,
    collections::HashMap,
    hash::{BuildHasher, Hash},
};

/// A fact about the thing evaluated (a ticket at intake, a ticket being
/// routed); borrowed, so callers need not copy their data to be evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact<'a> {
    /// Text; enum fields are passed as their lower-case name.
    Text(&'a str),
    /// A whole number.
    Integer(i64),
    /// A flag.
    Bool(bool),
    /// A list of strings, such as tags.
    List(&'a [String]),
}

impl Fact<'_> {
    /// Empty text and empty lists count as absent, as a blank form field does.
    pub(crate) fn is_empty(self) -> bool {
        match self {
            Fact::Text(t) => t.is_empty(),
            Fact::List(l) => l.is_empty(),
            Fact::Integer(_) | Fact::Bool(_) => false,
        }
    }
}

/// Where evaluation looks facts up, by field name.
pub trait Facts {
    /// The fact for `field`, or `None` when the thing has no such value.
    fn fact(&self, field: &str) -> Option<Fact<'_>>;
}

/// An owned fact, for [`FactMap`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedFact {
    /// Text, or an enum value.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A flag.
    Bool(bool),
    /// A list of strings.
    List(Vec<String>),
}

impl OwnedFact {
    /// Borrows it as a [`Fact`].
    pub fn as_fact(&self) -> Fact<'_> {
        match self {
            OwnedFact::Text(t) => Fact::Text(t),
            OwnedFact::Integer(i) => Fact::Integer(*i),
            OwnedFact::Bool(b) => Fact::Bool(*b),
            OwnedFact::List(l) => Fact::List(l),
        }
    }
}

impl From<&str> for OwnedFact {
    fn from(t: &str) -> Self {
        OwnedFact::Text(t.to_owned())
    }
}

impl From<String> for OwnedFact {
    fn from(t: String) -> Self {
        OwnedFact::Text(t)
    }
}

impl From<i64> for OwnedFact {
    fn from(i: i64) -> Self {
        OwnedFact::Integer(i)
    }
}

impl From<bool> for OwnedFact {
    fn from(b: bool) -> Self {
        OwnedFact::Bool(b)
    }
}

impl From<Vec<String>> for OwnedFact {
    fn from(l: Vec<String>) -> Self {
        OwnedFact::List(l)
    }
}

/// Facts held by name, for tests and callers without a typed source.
pub type FactMap = HashMap<String, OwnedFact>;

impl<K, S> Facts for HashMap<K, OwnedFact, S>
where
    K: Borrow<str> + Hash + Eq,
    S: BuildHasher,
{
    fn fact(&self, field: &str) -> Option<Fact<'_>> {
        self.get(field).map(OwnedFact::as_fact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fact_maps_lend_their_values() {
        let map = FactMap::from([
            ("subject".to_owned(), "Hello".into()),
            ("seats".to_owned(), 3.into()),
            ("vip".to_owned(), true.into()),
            ("tags".to_owned(), vec!["a".to_owned()].into()),
            ("owned".to_owned(), String::from("x").into()),
        ]);
        assert_eq!(map.fact("subject"), Some(Fact::Text("Hello")));
        assert_eq!(map.fact("seats"), Some(Fact::Integer(3)));
        assert_eq!(map.fact("vip"), Some(Fact::Bool(true)));
        assert_eq!(map.fact("tags"), Some(Fact::List(&["a".to_owned()][..])));
        assert_eq!(map.fact("owned"), Some(Fact::Text("x")));
        assert_eq!(map.fact("missing"), None);
        let by_static: HashMap<&str, OwnedFact> = HashMap::from([("k", OwnedFact::Integer(1))]);
        assert_eq!(by_static.fact("k"), Some(Fact::Integer(1)));
    }

    #[test]
    fn blank_text_and_lists_are_empty() {
        assert!(Fact::Text("").is_empty());
        assert!(!Fact::Text(" ").is_empty());
        assert!(Fact::List(&[]).is_empty());
        assert!(!Fact::Integer(0).is_empty());
        assert!(!Fact::Bool(false).is_empty());
    }
}
