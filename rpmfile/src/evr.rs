//! `[epoch:]version[-release]` values as rpm 4.18 splits them (`rpmverParse`), and their two
//! comparisons: rpm's total order (`rpmverCmp`, Lua's `rpm.ver`) and the one of dependency
//! ranges, where a side without a release matches any release.

use std::cmp::Ordering;
use std::fmt;

use crate::vercmp::rpmvercmp;

/// An `[epoch:]version[-release]`, each part as written (no epoch is not the same as `0:`
/// when printed, but compares equal to it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evr {
    /// The epoch digits (`0` for a bare `:`), when there is a `:`.
    pub epoch: Option<String>,
    /// The version.
    pub version: String,
    /// The release, when there is a `-`.
    pub release: Option<String>,
}

impl Evr {
    /// Splits `text` as rpm does; `None` for the empty string, which rpm calls an invalid
    /// version.
    pub fn parse(text: &str) -> Option<Evr> {
        if text.is_empty() {
            return None;
        }
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        let rest = &text[digits..];
        let (epoch, version_release) = match rest.strip_prefix(':') {
            Some(vr) => (
                Some(if digits == 0 { "0" } else { &text[..digits] }.to_string()),
                vr,
            ),
            None => (None, text),
        };
        // The release separator is searched after the epoch digits, as rpm does.
        let (version, release) = match rest.rfind('-') {
            Some(k) => {
                let dash = digits + k;
                let version_start = text.len() - version_release.len();
                (
                    text[version_start..dash].to_string(),
                    Some(text[dash + 1..].to_string()),
                )
            }
            None => (version_release.to_string(), None),
        };
        Some(Evr {
            epoch,
            version,
            release,
        })
    }

    /// The epoch compared as rpm does: a missing one is `0`.
    fn epoch_cmp(&self, other: &Evr) -> Ordering {
        rpmvercmp(
            self.epoch.as_deref().unwrap_or("0"),
            other.epoch.as_deref().unwrap_or("0"),
        )
    }

    /// rpm's `rpmverCmp`: epoch, version, then release, where a missing release sorts before
    /// any release.
    pub fn rpm_cmp(&self, other: &Evr) -> Ordering {
        self.epoch_cmp(other)
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (Some(mine), Some(theirs)) => rpmvercmp(mine, theirs),
                (mine, theirs) => mine.is_some().cmp(&theirs.is_some()),
            })
    }

    /// The comparison of a dependency range (`Requires: foo >= 1.0`, trigger conditions): as
    /// [`Evr::rpm_cmp`], but the releases count only when both sides have one.
    pub fn range_cmp(&self, other: &Evr) -> Ordering {
        self.epoch_cmp(other)
            .then_with(|| rpmvercmp(&self.version, &other.version))
            .then_with(|| match (&self.release, &other.release) {
                (Some(mine), Some(theirs)) => rpmvercmp(mine, theirs),
                _ => Ordering::Equal,
            })
    }
}

impl fmt::Display for Evr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(epoch) = &self.epoch {
            write!(f, "{epoch}:")?;
        }
        f.write_str(&self.version)?;
        if let Some(release) = &self.release {
            write!(f, "-{release}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evr(text: &str) -> Evr {
        Evr::parse(text).unwrap()
    }

    #[test]
    fn splits_as_rpm_does() {
        assert_eq!(Evr::parse(""), None);
        assert_eq!(
            evr("2:1.0-3.fc40"),
            Evr {
                epoch: Some("2".into()),
                version: "1.0".into(),
                release: Some("3.fc40".into())
            }
        );
        assert_eq!(evr(":1").epoch.as_deref(), Some("0"));
        assert_eq!(evr("a:1-2").version, "a:1");
        assert_eq!(evr("1-2-3").release.as_deref(), Some("3"));
        assert_eq!(evr("1:2-3").to_string(), "1:2-3");
    }

    #[test]
    fn missing_release_sorts_first_but_matches_a_range() {
        assert_eq!(evr("1.0").rpm_cmp(&evr("1.0-1")), Ordering::Less);
        assert_eq!(evr("1.0").range_cmp(&evr("1.0-1")), Ordering::Equal);
        assert_eq!(evr("0:1.0-1").rpm_cmp(&evr("1.0-1")), Ordering::Equal);
        assert_eq!(evr("1:0.1").range_cmp(&evr("9.9-9")), Ordering::Greater);
    }
}
