//! rpm macro files and `%define` definitions, read as rpm 4.18 reads them (`rpmio/macro.c`):
//! the one reader behind the target's `%_dbpath` and the scriptlets' `rpm.load`/`rpm.define`.
//! Expanding macros is the user's business.

/// One definition: `name[(opts)] body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroDefinition {
    /// The macro's name (letters, digits, `_`).
    pub name: String,
    /// A parametric macro's getopt options (`ab:` of `name(ab:)`); `Some("")` for `name()`.
    pub opts: Option<String>,
    /// The body, blanks trimmed at both ends, not expanded.
    pub body: String,
}

impl MacroDefinition {
    /// Parses what `%define` takes (`name[(opts)] body`, an optional leading `%`); `None` for a
    /// definition rpm refuses: no name, unclosed options, or no blank before the body.
    pub fn parse(text: &str) -> Option<MacroDefinition> {
        let text = text.trim_start();
        let text = text.strip_prefix('%').unwrap_or(text);
        let name_len = text
            .bytes()
            .take_while(|&c| c.is_ascii_alphanumeric() || c == b'_')
            .count();
        if name_len == 0 {
            return None;
        }
        let (name, mut rest) = text.split_at(name_len);
        let mut opts = None;
        if let Some(after_paren) = rest.strip_prefix('(') {
            let end = after_paren.find(')')?;
            opts = Some(after_paren[..end].to_string());
            rest = &after_paren[end + 1..];
        }
        if !rest.is_empty() && !rest.starts_with([' ', '\t', '\n']) {
            return None;
        }
        Some(MacroDefinition {
            name: name.to_string(),
            opts,
            body: rest.trim().to_string(),
        })
    }
}

/// The definitions of a macro file, in file order (a later one of a name wins). A definition is
/// a line starting with `%`; it goes on over the next line while it ends with `\` (dropped, the
/// line break kept) or while a `%{`, `%(` or `%[` group is open, as rpm's `rdcl` reads it.
/// Lines rpm would refuse are skipped.
pub fn read_macro_file(text: &str) -> Vec<MacroDefinition> {
    let mut definitions = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(first) = line.trim_start().strip_prefix('%') else {
            continue;
        };
        let mut text = first.to_string();
        let mut groups = OpenGroups::default();
        groups.scan(first);
        loop {
            if text.ends_with('\\') {
                text.pop();
            } else if !groups.any_open() {
                break;
            }
            text.push('\n');
            match lines.next() {
                Some(next) => {
                    groups.scan(next);
                    text.push_str(next);
                }
                None => break,
            }
        }
        definitions.extend(MacroDefinition::parse(&text));
    }
    definitions
}

/// The `%{`, `%(` and `%[` groups still open in the lines read so far (rpm's `bc`, `pc`, `xc`).
#[derive(Default)]
struct OpenGroups {
    braces: u32,
    parens: u32,
    brackets: u32,
}

impl OpenGroups {
    fn any_open(&self) -> bool {
        self.braces + self.parens + self.brackets > 0
    }

    fn scan(&mut self, line: &str) {
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match (bytes[i], bytes.get(i + 1)) {
                // An escaped character opens and closes nothing.
                (b'\\', Some(_)) => i += 1,
                (b'%', Some(b'{')) => {
                    i += 1;
                    self.braces += 1;
                }
                (b'%', Some(b'(')) => {
                    i += 1;
                    self.parens += 1;
                }
                (b'%', Some(b'[')) => {
                    i += 1;
                    self.brackets += 1;
                }
                (b'%', Some(b'%')) => i += 1,
                (b'{', _) if self.braces > 0 => self.braces += 1,
                (b'}', _) if self.braces > 0 => self.braces -= 1,
                (b'(', _) if self.parens > 0 => self.parens += 1,
                (b')', _) if self.parens > 0 => self.parens -= 1,
                (b'[', _) if self.brackets > 0 => self.brackets += 1,
                (b']', _) if self.brackets > 0 => self.brackets -= 1,
                _ => {}
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(name: &str, opts: Option<&str>, body: &str) -> MacroDefinition {
        MacroDefinition {
            name: name.into(),
            opts: opts.map(Into::into),
            body: body.into(),
        }
    }

    #[test]
    fn reads_a_file_as_rpm_does() {
        let text = "# comment\n%_usr\t\t/usr\n%_foo(o:) \\\n  bar\n  %two a\\\nb\n\
                    %lua_body %{lua:\nprint(1)\n}\n%bad:body\n%after x\n";
        assert_eq!(
            read_macro_file(text),
            vec![
                definition("_usr", None, "/usr"),
                definition("_foo", Some("o:"), "bar"),
                definition("two", None, "a\nb"),
                definition("lua_body", None, "%{lua:\nprint(1)\n}"),
                definition("after", None, "x"),
            ]
        );
    }

    #[test]
    fn parses_a_define() {
        assert_eq!(
            MacroDefinition::parse("%kt_r(n:) %{-n*}/%1"),
            Some(definition("kt_r", Some("n:"), "%{-n*}/%1"))
        );
        assert_eq!(MacroDefinition::parse("x"), Some(definition("x", None, "")));
        assert_eq!(MacroDefinition::parse("(x) y"), None);
        assert_eq!(MacroDefinition::parse("x(a y"), None);
    }
}
