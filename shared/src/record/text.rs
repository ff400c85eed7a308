//! A string field of a stored line as compaction reads it: borrowed from the line, or owned when
//! the JSON string has escapes.
//!
//! `Option<Cow<'a, str>>` with `#[serde(borrow)]` does not do this: serde borrows only for a
//! field that is exactly `Cow<str>`, and through `Option` every string became a `String` (a
//! tenth of compaction's time on a day of events went to those allocations and copies).

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::de::{Deserialize, Deserializer, Error, Visitor};

pub struct Text<'a>(Cow<'a, str>);

impl Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }

            fn visit_str<E: Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E: Error>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }

        d.deserialize_str(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Line<'a> {
        #[serde(borrow)]
        plain: Option<Text<'a>>,
        #[serde(borrow)]
        escaped: Option<Text<'a>>,
    }

    #[test]
    fn a_string_without_escapes_is_borrowed_from_the_line_and_one_with_escapes_is_unescaped() {
        let line = r#"{"plain":"https://shop.example/p/42","escaped":"a \"quote\" \u00e9"}"#;
        let l: Line<'_> = serde_json::from_str(line).unwrap();
        let plain = l.plain.unwrap();
        assert!(matches!(plain.0, Cow::Borrowed(_)));
        assert_eq!(&*plain, "https://shop.example/p/42");
        assert_eq!(&*l.escaped.unwrap(), "a \"quote\" é");
        assert!(serde_json::from_str::<Line<'_>>(r#"{"plain":3}"#).is_err());
    }
}
