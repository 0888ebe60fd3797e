//! The fields a rule set may mention.

use std::collections::BTreeMap;

/// Fields under this prefix are tenant-defined custom fields.
pub const CUSTOM_PREFIX: &str = "custom.";

/// What a field holds, so conditions can be validated on save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Free text, compared case-insensitively.
    Text,
    /// One of these lower-case values; facts pass it as text.
    Enum(&'static [&'static str]),
    /// A whole number.
    Integer,
    /// A flag.
    Bool,
    /// A list of strings, such as tags.
    List,
    /// Typed by each condition's value instead of by the schema, for callers
    /// that do not know a custom field's kind; [`Schema::with_custom`]
    /// catches more mistakes and should be preferred.
    Dynamic,
}

impl FieldKind {
    /// How messages name the kind ("`channel` is an enum").
    pub(crate) fn describe(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Enum(_) => "an enum",
            FieldKind::Integer => "an integer",
            FieldKind::Bool => "a bool",
            FieldKind::List => "a list",
            FieldKind::Dynamic => "typed by its value",
        }
    }
}

/// The fields a rule set may mention; intake and routing each build one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    fields: BTreeMap<&'static str, FieldKind>,
    /// Keyed without [`CUSTOM_PREFIX`].
    custom: BTreeMap<String, FieldKind>,
    prefixes: Vec<(&'static str, FieldKind)>,
}

impl Schema {
    /// A schema of fixed fields.
    pub fn new(fields: impl IntoIterator<Item = (&'static str, FieldKind)>) -> Self {
        Self {
            fields: fields.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Adds a tenant's custom fields, each reachable as `custom.<key>`.
    ///
    /// Keys may be given with or without the `custom.` prefix, since tenant
    /// settings store the bare key while conditions use the full name.
    pub fn with_custom(mut self, custom: impl IntoIterator<Item = (String, FieldKind)>) -> Self {
        for (key, kind) in custom {
            let key = match key.strip_prefix(CUSTOM_PREFIX) {
                Some(bare) => bare.to_owned(),
                None => key,
            };
            // An empty key would make the bare prefix a field.
            if !key.is_empty() {
                self.custom.insert(key, kind);
            }
        }
        self
    }

    /// Accepts every field that starts with `prefix` (and is longer) as `kind`.
    ///
    /// Kept for callers that accept any custom field with
    /// [`FieldKind::Dynamic`]; declared fields win over a prefix.
    pub fn with_prefix(mut self, prefix: &'static str, kind: FieldKind) -> Self {
        self.prefixes.push((prefix, kind));
        self
    }

    /// The kind of `field`, if the schema has it.
    pub fn kind(&self, field: &str) -> Option<&FieldKind> {
        self.fields
            .get(field)
            .or_else(|| {
                field
                    .strip_prefix(CUSTOM_PREFIX)
                    .and_then(|key| self.custom.get(key))
            })
            .or_else(|| {
                self.prefixes
                    .iter()
                    .find(|(p, _)| field.len() > p.len() && field.starts_with(p))
                    .map(|(_, k)| k)
            })
    }

    /// Fixed field names, sorted, for "unknown field" messages.
    pub(crate) fn fixed_names(&self) -> impl Iterator<Item = &str> {
        self.fields.keys().copied()
    }

    /// Declared custom keys (without the prefix), sorted.
    pub(crate) fn custom_keys(&self) -> impl Iterator<Item = &str> {
        self.custom.keys().map(String::as_str)
    }

    /// Prefixes accepted wholesale.
    pub(crate) fn prefixes(&self) -> impl Iterator<Item = &str> {
        self.prefixes.iter().map(|(p, _)| *p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_fixed_then_custom_then_prefix_fields() {
        let schema = Schema::new([("channel", FieldKind::Enum(&["email"]))])
            .with_custom([
                ("plan".to_owned(), FieldKind::Text),
                ("custom.seats".to_owned(), FieldKind::Integer),
                (String::new(), FieldKind::Bool),
            ])
            .with_prefix("custom.", FieldKind::Dynamic);
        assert_eq!(
            schema.kind("channel"),
            Some(&FieldKind::Enum(&["email"][..]))
        );
        assert_eq!(schema.kind("custom.plan"), Some(&FieldKind::Text));
        assert_eq!(schema.kind("custom.seats"), Some(&FieldKind::Integer));
        assert_eq!(schema.kind("custom.other"), Some(&FieldKind::Dynamic));
        assert_eq!(schema.kind("custom."), None, "the bare prefix is no field");
        assert_eq!(schema.kind("plan"), None, "custom keys need the prefix");
        assert_eq!(schema.kind("Channel"), None, "field names are exact");
    }
}
