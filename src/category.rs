//! Consent categories and compact sets of them.
//!
//! Categories are few (the four built-ins plus whatever an operator adds), so a set of them is a
//! `u32` bit mask: consent checks on the hot path are a single AND.

use std::fmt;

/// Index of a category in the [`Categories`] table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Category(u8);

impl Category {
    /// Strictly necessary cookies and resources: never blocked.
    pub const NECESSARY: Category = Category(0);
    /// Preferences, embedded players and other convenience features.
    pub const FUNCTIONAL: Category = Category(1);
    /// Statistics, measurement, A/B testing.
    pub const ANALYTICS: Category = Category(2);
    /// Advertising, retargeting, social pixels, sale or sharing of personal data.
    pub const MARKETING: Category = Category(3);

    /// Position of this category in its table.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    fn bit(self) -> u32 {
        1u32 << self.0
    }
}

/// A set of categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct CategorySet(u32);

impl CategorySet {
    /// The empty set.
    pub const EMPTY: CategorySet = CategorySet(0);

    /// A set holding one category.
    pub fn only(c: Category) -> Self {
        CategorySet(c.bit())
    }

    /// The set as a bit mask (bit `i` is category `i`), for compact names and cache keys.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// The set of a bit mask from [`CategorySet::bits`].
    pub fn from_bits(bits: u32) -> Self {
        CategorySet(bits)
    }

    /// Whether `c` is in the set.
    pub fn contains(self, c: Category) -> bool {
        self.0 & c.bit() != 0
    }

    /// Adds `c` to the set.
    pub fn insert(&mut self, c: Category) {
        self.0 |= c.bit();
    }

    /// Removes `c` from the set.
    pub fn remove(&mut self, c: Category) {
        self.0 &= !c.bit();
    }

    /// Members of either set.
    pub fn union(self, other: CategorySet) -> CategorySet {
        CategorySet(self.0 | other.0)
    }

    /// Members of both sets.
    pub fn intersection(self, other: CategorySet) -> CategorySet {
        CategorySet(self.0 & other.0)
    }

    /// Members of `self` that are not in `other`.
    pub fn difference(self, other: CategorySet) -> CategorySet {
        CategorySet(self.0 & !other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The categories in the set, in table order.
    pub fn iter(self) -> impl Iterator<Item = Category> {
        (0u8..32)
            .filter(move |i| self.0 & (1u32 << i) != 0)
            .map(Category)
    }
}

/// Most categories an operator can define, built-ins included.
pub const MAX_CATEGORIES: usize = 32;

/// The table of known categories: the four built-ins followed by the operator's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Categories {
    names: Vec<Box<str>>,
}

/// A category name that cannot be added to the table.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CategoryError {
    /// The name is empty or uses characters other than `a-z`, `0-9`, `_` and `-`.
    #[error("category name {0:?} must be non-empty and use only a-z, 0-9, '_' and '-'")]
    BadName(String),
    /// The name is already in the table.
    #[error("category {0:?} is defined twice")]
    Duplicate(String),
    /// The table is full.
    #[error("at most {MAX_CATEGORIES} categories can be defined")]
    TooMany,
}

impl Default for Categories {
    fn default() -> Self {
        Categories {
            names: ["necessary", "functional", "analytics", "marketing"]
                .into_iter()
                .map(Box::from)
                .collect(),
        }
    }
}

impl Categories {
    /// The built-in categories plus `extra`, in that order.
    pub fn with_extra<S: AsRef<str>>(extra: &[S]) -> Result<Self, CategoryError> {
        let mut table = Categories::default();
        for name in extra {
            let name = name.as_ref();
            let valid = !name.is_empty()
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !valid {
                return Err(CategoryError::BadName(name.to_owned()));
            }
            if table.lookup(name).is_some() {
                return Err(CategoryError::Duplicate(name.to_owned()));
            }
            if table.names.len() >= MAX_CATEGORIES {
                return Err(CategoryError::TooMany);
            }
            table.names.push(name.into());
        }
        Ok(table)
    }

    /// The category called `name`, if there is one.
    pub fn lookup(&self, name: &str) -> Option<Category> {
        self.names
            .iter()
            .position(|n| &**n == name)
            .and_then(|i| u8::try_from(i).ok())
            .map(Category)
    }

    /// The name of `c` (`"unknown"` for an index outside the table, which cannot happen for a
    /// category obtained from this table).
    pub fn name(&self, c: Category) -> &str {
        self.names.get(c.index()).map_or("unknown", |n| n)
    }

    /// Every category in the table.
    pub fn all(&self) -> CategorySet {
        (0..self.names.len())
            .filter_map(|i| u8::try_from(i).ok())
            .fold(CategorySet::EMPTY, |mut set, i| {
                set.insert(Category(i));
                set
            })
    }

    /// Every category in table order.
    pub fn iter(&self) -> impl Iterator<Item = (Category, &str)> {
        self.names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| u8::try_from(i).ok().map(|i| (Category(i), &**n)))
    }

    /// Names of the members of `set`, joined with `sep`.
    pub fn join(&self, set: CategorySet, sep: &str) -> String {
        let mut out = String::new();
        for c in set.iter() {
            if !out.is_empty() {
                out.push_str(sep);
            }
            out.push_str(self.name(c));
        }
        out
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_come_first_and_extras_follow() {
        let t = Categories::with_extra(&["social"]).unwrap();
        assert_eq!(t.lookup("necessary"), Some(Category::NECESSARY));
        assert_eq!(t.lookup("marketing"), Some(Category::MARKETING));
        let social = t.lookup("social").unwrap();
        assert_eq!(t.name(social), "social");
        assert_eq!(t.all().iter().count(), 5);
    }

    #[test]
    fn bad_or_duplicate_names_are_refused() {
        assert_eq!(
            Categories::with_extra(&["Ads"]),
            Err(CategoryError::BadName("Ads".into()))
        );
        assert_eq!(
            Categories::with_extra(&["analytics"]),
            Err(CategoryError::Duplicate("analytics".into()))
        );
        let many: Vec<String> = (0..40).map(|i| format!("c{i}")).collect();
        assert_eq!(Categories::with_extra(&many), Err(CategoryError::TooMany));
    }

    #[test]
    fn set_operations() {
        let mut s = CategorySet::only(Category::ANALYTICS);
        s.insert(Category::MARKETING);
        assert!(s.contains(Category::MARKETING));
        s.remove(Category::MARKETING);
        assert_eq!(s, CategorySet::only(Category::ANALYTICS));
        assert!(s.difference(s).is_empty());
    }
}
