//! rpm's version comparison (`rpmvercmp`): one version or release string against another.
//!
//! Segments of digits compare numerically and beat letters; `~` sorts before anything (even
//! the end), `^` after the end but before anything else; other separators only split.

use std::cmp::Ordering;

/// Compare two version (or release) strings as rpm does.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while let Some(&c) = x.first() {
            if sep(c) {
                x = &x[1..];
            } else {
                break;
            }
        }
        while let Some(&c) = y.first() {
            if sep(c) {
                y = &y[1..];
            } else {
                break;
            }
        }
        // Tilde: older than anything, including the end of the other string.
        match (x.first() == Some(&b'~'), y.first() == Some(&b'~')) {
            (true, true) => {
                x = &x[1..];
                y = &y[1..];
                continue;
            }
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        // Caret: newer than the end of the other string, older than any other segment.
        match (x.first() == Some(&b'^'), y.first() == Some(&b'^')) {
            (true, true) => {
                x = &x[1..];
                y = &y[1..];
                continue;
            }
            (true, false) => {
                return if y.is_empty() {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, true) => {
                return if x.is_empty() {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            _ => {}
        }
        if x.is_empty() || y.is_empty() {
            break;
        }
        let numeric = x[0].is_ascii_digit();
        let take = |s: &[u8]| -> usize {
            s.iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (nx, ny) = (take(x), take(y));
        let (sx, sy) = (&x[..nx], &y[..ny]);
        // Segments of different kinds: numeric is newer.
        if ny == 0 {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let ord = if numeric {
            let tx = trim_zeros(sx);
            let ty = trim_zeros(sy);
            tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty))
        } else {
            sx.cmp(sy)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        x = &x[nx..];
        y = &y[ny..];
    }
    match (x.is_empty(), y.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b'0').count();
    &s[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pairs checked against the host rpm's own `rpm.vercmp` when rpm is installed; the
    /// expected values are rpm's, not this module's.
    const PAIRS: &[(&str, &str)] = &[
        ("1.0", "1.0"),
        ("1.0", "2.0"),
        ("2.0.1", "2.0"),
        ("1.0~rc1", "1.0"),
        ("1.0~rc1", "1.0~rc2"),
        ("1.0^git1", "1.0"),
        ("1.0^git1", "1.0.1"),
        ("1.0^", "1.0^git"),
        ("1.0~", "1.0^"),
        ("5.5p1", "5.5p2"),
        ("5.5p10", "5.5p2"),
        ("10xyz", "10.1xyz"),
        ("xyz10", "xyz10.1"),
        ("1.0aa", "1.0a"),
        ("2a", "2.0"),
        ("1.0a", "1.0.1"),
        ("001", "1"),
        ("1.001", "1.1"),
        ("a", "1"),
        ("1_0", "1.0"),
        ("1+", "1"),
        ("6.0.rc1", "6.0"),
        ("fc4", "fc.4"),
        ("3.0.0_fc", "3.0.0.fc"),
        ("20101121", "20101122"),
        ("1.0~rc1^git1", "1.0~rc1"),
        ("~~", "~~~"),
    ];

    #[test]
    fn agrees_with_host_rpm() {
        let Ok(out) = std::process::Command::new("rpm")
            .arg("--eval")
            .arg(format!(
                "%{{lua: {}}}",
                PAIRS
                    .iter()
                    .map(|(a, b)| format!("print(rpm.vercmp('{a}','{b}') .. ' ')"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ))
            .output()
        else {
            eprintln!("rpm not installed: skipping the oracle comparison");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let want: Vec<i32> = text
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        assert_eq!(want.len(), PAIRS.len(), "rpm printed: {text}");
        for ((a, b), w) in PAIRS.iter().zip(want) {
            let got = rpmvercmp(a, b) as i32;
            assert_eq!(got, w, "rpmvercmp({a:?}, {b:?})");
        }
    }
}
