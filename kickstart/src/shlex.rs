//! POSIX shell-like word splitting with `#` comments, the way pykickstart splits every line
//! (Python's `shlex.split(line, comments=True)`): quotes, backslash escapes, and a `#` that starts
//! a comment wherever a word could continue (`a#b` is `a`).

/// Why a line could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    /// A quote was opened and never closed.
    NoClosingQuotation,
    /// The line ends in a lone backslash.
    NoEscapedCharacter,
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitError::NoClosingQuotation => f.write_str("no closing quotation"),
            SplitError::NoEscapedCharacter => f.write_str("no escaped character"),
        }
    }
}

/// Split `line` into words. With `comments`, `#` outside quotes ends the line.
pub fn split(line: &str, comments: bool) -> Result<Vec<String>, SplitError> {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Space,
        Word,
        Single,
        Double,
    }
    let mut out = Vec::new();
    let mut tok = String::new();
    let mut st = St::Space;
    // A quoted empty string still makes a word ("" -> "").
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match st {
            St::Space | St::Word => {
                if c.is_whitespace() && is_shlex_ws(c) {
                    if st == St::Word {
                        out.push(std::mem::take(&mut tok));
                        quoted = false;
                    }
                    st = St::Space;
                } else if comments && c == '#' {
                    // The rest of the line is a comment; shlex then continues on the next line
                    // but a single line has none.
                    if c == '#' {
                        while let Some(&n) = chars.peek() {
                            chars.next();
                            if n == '\n' {
                                break;
                            }
                        }
                    }
                    if st == St::Word {
                        out.push(std::mem::take(&mut tok));
                        quoted = false;
                    }
                    st = St::Space;
                } else if c == '\'' {
                    st = St::Single;
                    quoted = true;
                } else if c == '"' {
                    st = St::Double;
                    quoted = true;
                } else if c == '\\' {
                    match chars.next() {
                        Some(n) => tok.push(n),
                        None => return Err(SplitError::NoEscapedCharacter),
                    }
                    st = St::Word;
                } else {
                    tok.push(c);
                    st = St::Word;
                }
            }
            St::Single => {
                if c == '\'' {
                    st = St::Word;
                } else {
                    tok.push(c);
                }
            }
            St::Double => {
                if c == '"' {
                    st = St::Word;
                } else if c == '\\' {
                    match chars.next() {
                        Some(n) if n == '"' || n == '\\' => tok.push(n),
                        Some(n) => {
                            tok.push('\\');
                            tok.push(n);
                        }
                        None => return Err(SplitError::NoClosingQuotation),
                    }
                } else {
                    tok.push(c);
                }
            }
        }
    }
    match st {
        St::Single | St::Double => return Err(SplitError::NoClosingQuotation),
        St::Word => out.push(tok),
        St::Space => {
            if quoted {
                out.push(tok)
            }
        }
    }
    Ok(out)
}

fn is_shlex_ws(c: char) -> bool {
    // shlex's whitespace set is ' \t\r\n' only.
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Quote a word so that [`split`] gives it back unchanged (Python's `shlex.quote`).
pub fn quote(s: &str) -> String {
    if s.is_empty() {
        return "''".to_string();
    }
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_python_shlex() {
        assert_eq!(split("a#b c", true).unwrap(), vec!["a"]);
        assert_eq!(
            split("a \"b#c\" d # e", true).unwrap(),
            vec!["a", "b#c", "d"]
        );
        assert_eq!(
            split(r#"x "a\\b\c" y"#, true).unwrap(),
            vec!["x", r"a\b\c", "y"]
        );
        assert_eq!(split("a '' b", true).unwrap(), vec!["a", "", "b"]);
        assert_eq!(split("--x=\"a b\"", true).unwrap(), vec!["--x=a b"]);
        assert_eq!(split("a 'b", true), Err(SplitError::NoClosingQuotation));
        assert_eq!(split("a \\", true), Err(SplitError::NoEscapedCharacter));
    }

    #[test]
    fn quote_round_trips() {
        for s in ["", "a b", "it's", "plain", "$HOME", "x#y"] {
            assert_eq!(split(&quote(s), true).unwrap(), vec![s.to_string()]);
        }
    }
}
