//! SELinux file labels computed natively, as the target's own `setfiles` would give them: no host
//! `setfiles`, no libselinux, no host SELinux, no emulated binary, so any target arch works.
//!
//! [`FileContexts`] reads the policy's `file_contexts` (plus `.homedirs`, `.local`, `.subs`,
//! `.subs_dist`) and answers [`FileContexts::lookup`] with libselinux's semantics (its
//! `label_file` backend as of 3.4, the version whose `selabel_lookup` the tests compare with):
//!
//! - a line is `REGEX [TYPE] CONTEXT`, whitespace-separated, `#` comments; `TYPE` is one of
//!   `-- -d -l -b -c -p -s`; without it a spec applies to every file type;
//! - the regex is PCRE anchored as `^REGEX$`, compiled with DOTALL and matched unanchored (so a
//!   top-level `|` escapes the anchors, as in libselinux);
//! - order: the files are read as `file_contexts`, `.homedirs`, `.local`; then every spec
//!   without regex meta characters (`.^$?*+|[({`, a backslash hides the next character) moves
//!   behind all the others, keeping its relative order; the LAST spec in that order whose type
//!   fits and whose regex matches wins. So an exact path always beats a regex, and among equals
//!   the later line wins;
//! - `<<none>>` as the winner means "no label" (setfiles leaves the file alone), as does no
//!   match at all;
//! - before matching, runs of `/` collapse to one and a trailing `/` goes; then one `.subs`
//!   alias (the file's last matching line: libselinux keeps them as a list built by
//!   prepending) rewrites the path prefix, then one `.subs_dist` alias rewrites the result. An
//!   alias `SRC DST` applies when the path is `SRC` or starts with `SRC/`.
//!
//! Compiled `file_contexts.bin` files are not read (libselinux takes the newer of the text and
//! the `.bin`; policies ship both, made from the same text). Regexes run on the `regex` crate,
//! bytes-mode without Unicode (PCRE2 without UTF: `.` and negated classes match any byte);
//! PCRE's `$` also matching before a final newline is the one difference, and file names
//! ending in a newline do not occur in packages. A regex is parsed when the file is read (a
//! malformed line fails the load with its file and line) and compiled when a lookup first
//! needs it, as libselinux does; a byte trie of the specs' literal prefixes picks the few specs
//! a path can match, so a lookup tries those only, in libselinux's order.
//!
//! [`label_tree`] writes the labels as `security.selinux` xattrs, the context string with its
//! NUL terminator as libselinux's `lsetfilecon` stores it, on every path beneath a root; the
//! image writers carry them like any other xattr.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rayon::prelude::*;
use regex::bytes::{Regex, RegexBuilder};

use crate::attrs::{AttrStore, Device};
use crate::error::IoError;

/// The xattr that holds a file's SELinux context.
pub const XATTR_NAME: &str = "security.selinux";

/// Loading a policy's file contexts or labelling a tree failed.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// A file-system call failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A line of a file_contexts file is malformed (missing fields, bad file type, a regex
    /// that does not compile).
    #[error("{}:{line}: {message}", file.display())]
    Spec {
        /// The file.
        file: PathBuf,
        /// Line number (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The policy has only compiled contexts (`file_contexts.bin`), which kiln does not read.
    #[error("`{}` is missing (only the compiled `.bin` exists)", .0.display())]
    OnlyCompiled(PathBuf),
    /// The root's sidecar (labels a rootless build records) could not be read or written.
    #[error(transparent)]
    Attrs(#[from] crate::attrs::AttrsError),
}

/// The file type a spec applies to (file_contexts' second field), or that a file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// No qualifier: every type (as a lookup type: unknown, matches every spec).
    Any,
    /// `--`
    Regular,
    /// `-d`
    Directory,
    /// `-l`
    Symlink,
    /// `-b`
    Block,
    /// `-c`
    Char,
    /// `-p`
    Fifo,
    /// `-s`
    Socket,
}

impl FileType {
    /// The type of a file_contexts qualifier (`--`, `-d`, ...).
    pub fn from_qualifier(q: &str) -> Option<FileType> {
        Some(match q {
            "--" => FileType::Regular,
            "-d" => FileType::Directory,
            "-l" => FileType::Symlink,
            "-b" => FileType::Block,
            "-c" => FileType::Char,
            "-p" => FileType::Fifo,
            "-s" => FileType::Socket,
            _ => return None,
        })
    }

    /// The type of an `st_mode`.
    pub fn from_mode(mode: u32) -> FileType {
        match mode & libc::S_IFMT {
            libc::S_IFREG => FileType::Regular,
            libc::S_IFDIR => FileType::Directory,
            libc::S_IFLNK => FileType::Symlink,
            libc::S_IFBLK => FileType::Block,
            libc::S_IFCHR => FileType::Char,
            libc::S_IFIFO => FileType::Fifo,
            libc::S_IFSOCK => FileType::Socket,
            _ => FileType::Any,
        }
    }

    /// Whether a spec of type `self` applies to a file of type `file`.
    fn fits(self, file: FileType) -> bool {
        self == FileType::Any || file == FileType::Any || self == file
    }
}

/// One file_contexts line.
#[derive(Debug)]
struct Spec {
    /// The regex as written (diagnostics: [`FileContexts::explain`]).
    regex_str: String,
    file_type: FileType,
    /// `None` for `<<none>>`.
    context: Option<String>,
    /// The whole path, for a spec that is a plain path.
    literal: Option<Vec<u8>>,
    /// `^REGEX$` for every other spec (checked at load, compiled when a lookup first needs it,
    /// as libselinux does: most specs never meet a path their prefix fits).
    regex: Option<LazyRegex>,
    /// Bytes every path it matches starts with (a cheap filter before the regex).
    prefix: Vec<u8>,
}

/// A policy's file contexts, ready for lookups.
#[derive(Debug)]
pub struct FileContexts {
    /// `SELINUXTYPE` (or the directory name the files came from).
    pub policy_type: String,
    /// In libselinux's sorted order: later wins.
    specs: Vec<Spec>,
    /// Plain paths → indexes into `specs`, highest first.
    exact: HashMap<Vec<u8>, Vec<u32>>,
    /// The other specs by their literal prefix: a path's candidates are the specs met walking
    /// its bytes down the trie (libselinux's stem, carried to the whole prefix).
    trie: PrefixTrie,
    /// `.subs` aliases in the order they are tried.
    subs: Vec<(Vec<u8>, Vec<u8>)>,
    /// `.subs_dist` aliases in the order they are tried.
    dist_subs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What [`label_tree`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LabelStats {
    /// Paths visited (the root included).
    pub paths: u64,
    /// Paths that got a `security.selinux` xattr.
    pub labelled: u64,
    /// Paths left without one (`<<none>>` or no matching spec).
    pub unlabelled: u64,
    /// Hard-linked files whose paths asked for different labels (the first path in byte
    /// order decides).
    pub link_conflicts: u64,
}

/// `SELINUXTYPE` from `ROOT/etc/selinux/config`, read as libselinux does (case-insensitive key,
/// surrounding whitespace and quotes dropped); `None` without the file or the key.
pub fn policy_type(root: &Path) -> Result<Option<String>, LabelError> {
    let path = root.join("etc/selinux/config");
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(IoError::new("read", path, e).into()),
    };
    let text = String::from_utf8_lossy(&text);
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("SELINUXTYPE") {
            let v = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
            if !v.is_empty() {
                found = Some(v.to_string());
            }
        }
    }
    Ok(found)
}

impl FileContexts {
    /// The file contexts of the policy `ROOT/etc/selinux/config` names; `None` when the root has
    /// no policy (no config, no `SELINUXTYPE`, or no `contexts/files/file_contexts`).
    pub fn load(root: &Path) -> Result<Option<FileContexts>, LabelError> {
        let Some(policy) = policy_type(root)? else {
            return Ok(None);
        };
        // A type naming a path outside /etc/selinux is no policy of this root.
        if policy.contains('/') || policy == ".." || policy == "." {
            return Ok(None);
        }
        let base = root
            .join("etc/selinux")
            .join(&policy)
            .join("contexts/files/file_contexts");
        if !base.exists() {
            let bin = with_suffix(&base, "bin");
            if bin.exists() {
                return Err(LabelError::OnlyCompiled(base));
            }
            return Ok(None);
        }
        let mut fc = FileContexts::from_file(&base)?;
        fc.policy_type = policy;
        Ok(Some(fc))
    }

    /// The file contexts of `base` (a `file_contexts` path) with its `.homedirs`, `.local`,
    /// `.subs` and `.subs_dist` when present, as `selabel_open` with `SELABEL_OPT_PATH` reads
    /// them.
    pub fn from_file(base: &Path) -> Result<FileContexts, LabelError> {
        let mut sources = Vec::new();
        for suffix in [None, Some("homedirs"), Some("local")] {
            let path = match suffix {
                None => base.to_path_buf(),
                Some(s) => with_suffix(base, s),
            };
            match std::fs::read(&path) {
                Ok(text) => sources.push((path, text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && suffix.is_some() => {}
                Err(e) => return Err(IoError::new("read", path, e).into()),
            }
        }
        let read_subs = |suffix: &str| -> Result<Vec<u8>, LabelError> {
            let path = with_suffix(base, suffix);
            match std::fs::read(&path) {
                Ok(t) => Ok(t),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(IoError::new("read", path, e).into()),
            }
        };
        let subs = read_subs("subs")?;
        let dist = read_subs("subs_dist")?;
        let srcs: Vec<(&Path, &[u8])> = sources
            .iter()
            .map(|(p, t)| (p.as_path(), t.as_slice()))
            .collect();
        let policy = base
            .ancestors()
            .nth(3)
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut fc = FileContexts::parse(&srcs, &subs, &dist)?;
        fc.policy_type = policy;
        Ok(fc)
    }

    /// File contexts from texts: `sources` in reading order (file_contexts, .homedirs,
    /// .local), each with the path its errors name; `subs`, `dist_subs` the alias files' texts.
    pub fn parse(
        sources: &[(&Path, &[u8])],
        subs: &[u8],
        dist_subs: &[u8],
    ) -> Result<FileContexts, LabelError> {
        struct Line {
            regex: String,
            file_type: FileType,
            context: Option<String>,
            file: usize,
            line: usize,
        }
        let mut lines = Vec::new();
        for (file, (path, text)) in sources.iter().enumerate() {
            for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
                let err = |message: String| LabelError::Spec {
                    file: path.to_path_buf(),
                    line: n + 1,
                    message,
                };
                let fields: Vec<&[u8]> = raw
                    .split(|b| b.is_ascii_whitespace())
                    .filter(|f| !f.is_empty())
                    .collect();
                if fields.is_empty() || fields[0].starts_with(b"#") {
                    continue;
                }
                if fields.iter().take(3).any(|f| !f.is_ascii()) {
                    return Err(err("non-ASCII characters".into()));
                }
                let text = |f: &[u8]| String::from_utf8_lossy(f).into_owned();
                let (regex, file_type, context) = match fields.len() {
                    1 => return Err(err("missing fields".into())),
                    2 => (text(fields[0]), FileType::Any, text(fields[1])),
                    // libselinux reads three fields and ignores what follows.
                    _ => {
                        let q = text(fields[1]);
                        let t = FileType::from_qualifier(&q)
                            .ok_or_else(|| err(format!("invalid file type {q}")))?;
                        (text(fields[0]), t, text(fields[2]))
                    }
                };
                lines.push(Line {
                    regex,
                    file_type,
                    context: (context != "<<none>>").then_some(context),
                    file,
                    line: n + 1,
                });
            }
        }
        // libselinux's sort: specs with meta characters first, plain ones behind, each group in
        // reading order.
        let (mut ordered, plain): (Vec<Line>, Vec<Line>) =
            lines.into_iter().partition(|l| has_meta_chars(&l.regex));
        ordered.extend(plain);

        let compiled: Vec<Result<Spec, LabelError>> = ordered
            .par_iter()
            .map(|l| {
                Spec::new(&l.regex, l.file_type, l.context.clone()).map_err(|message| {
                    LabelError::Spec {
                        file: sources[l.file].0.to_path_buf(),
                        line: l.line,
                        message,
                    }
                })
            })
            .collect();
        let specs = compiled.into_iter().collect::<Result<Vec<_>, _>>()?;

        let mut exact: HashMap<Vec<u8>, Vec<u32>> = HashMap::new();
        let mut trie = PrefixTrie::default();
        for (i, spec) in specs.iter().enumerate().rev() {
            let i = i as u32;
            match &spec.literal {
                Some(lit) => exact.entry(lit.clone()).or_default().push(i),
                None => trie.insert(&spec.prefix, i),
            }
        }
        Ok(FileContexts {
            policy_type: String::new(),
            specs,
            exact,
            trie,
            subs: parse_subs(subs),
            dist_subs: parse_subs(dist_subs),
        })
    }

    /// Number of specs read.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether no spec was read.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The context `setfiles` gives `path` (absolute, as seen inside the root) of type `file`;
    /// `None` for `<<none>>` or no matching spec.
    pub fn lookup(&self, path: &str, file: FileType) -> Option<&str> {
        self.lookup_bytes(path.as_bytes(), file)
    }

    /// [`FileContexts::lookup`] for a path that need not be UTF-8.
    pub fn lookup_bytes(&self, path: &[u8], file: FileType) -> Option<&str> {
        let i = self.matching_spec(path, file)?;
        self.specs[i].context.as_deref()
    }

    /// The winning spec (`REGEX`, its type, its context or `None` for `<<none>>`), for
    /// diagnostics.
    pub fn explain(&self, path: &str, file: FileType) -> Option<(&str, FileType, Option<&str>)> {
        let s = &self.specs[self.matching_spec(path.as_bytes(), file)?];
        Some((&s.regex_str, s.file_type, s.context.as_deref()))
    }

    fn matching_spec(&self, path: &[u8], file: FileType) -> Option<usize> {
        let clean = normalize(path);
        let key = self.substitute(&clean);
        let key: &[u8] = &key;
        // Plain paths sort behind every regex spec: one that fits wins outright.
        if let Some(found) = self.exact.get(key).and_then(|v| {
            v.iter()
                .copied()
                .find(|&i| self.specs[i as usize].file_type.fits(file))
        }) {
            return Some(found as usize);
        }
        // Then the regex specs whose literal prefix starts the path, highest index first
        // (libselinux's backwards scan over its sorted array).
        let mut candidates = Vec::with_capacity(64);
        self.trie.collect(key, &mut candidates);
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        candidates
            .into_iter()
            .find(|&i| {
                let spec = &self.specs[i as usize];
                spec.file_type.fits(file) && spec.matches(key)
            })
            .map(|i| i as usize)
    }

    /// The path after the `.subs` alias, then the `.subs_dist` alias (libselinux's
    /// `selabel_sub_key`).
    fn substitute<'p>(&self, path: &'p [u8]) -> std::borrow::Cow<'p, [u8]> {
        let local = apply_alias(&self.subs, path);
        let after = local.as_deref().unwrap_or(path);
        match apply_alias(&self.dist_subs, after) {
            Some(p) => p.into(),
            None => match local {
                Some(p) => p.into(),
                None => path.into(),
            },
        }
    }
}

impl Spec {
    fn new(regex_str: &str, file_type: FileType, context: Option<String>) -> Result<Spec, String> {
        let literal = (!has_meta_chars(regex_str))
            .then(|| plain_path(regex_str))
            .flatten();
        let (regex, prefix) = match &literal {
            Some(l) => (None, l.clone()),
            None => {
                let pattern = format!("^{}$", translate(regex_str));
                regex_syntax::ParserBuilder::new()
                    .unicode(false)
                    .utf8(false)
                    .dot_matches_new_line(true)
                    .build()
                    .parse(&pattern)
                    .map_err(|e| format!("invalid regex {regex_str}: {e}"))?;
                let lazy = LazyRegex {
                    pattern,
                    compiled: std::sync::OnceLock::new(),
                };
                (Some(lazy), literal_prefix(regex_str))
            }
        };
        Ok(Spec {
            regex_str: regex_str.to_string(),
            file_type,
            context,
            literal,
            regex,
            prefix,
        })
    }

    fn matches(&self, path: &[u8]) -> bool {
        if let Some(l) = &self.literal {
            return l == path;
        }
        path.starts_with(&self.prefix) && self.regex.as_ref().is_some_and(|r| r.is_match(path))
    }
}

/// A regex compiled on first use.
#[derive(Debug)]
struct LazyRegex {
    /// `^REGEX$`, already parsed once.
    pattern: String,
    /// `None` when it parsed but does not compile (over the size limit): it matches nothing,
    /// as a spec libselinux cannot compile.
    compiled: std::sync::OnceLock<Option<Regex>>,
}

impl LazyRegex {
    fn is_match(&self, path: &[u8]) -> bool {
        self.compiled
            .get_or_init(|| {
                RegexBuilder::new(&self.pattern)
                    .unicode(false)
                    .dot_matches_new_line(true)
                    .size_limit(1 << 24)
                    .build()
                    .map_err(|e| {
                        tracing::warn!("SELinux file context regex {} unusable: {e}", self.pattern)
                    })
                    .ok()
            })
            .as_ref()
            .is_some_and(|r| r.is_match(path))
    }
}

/// libselinux's `spec_hasMetaChars`.
fn has_meta_chars(regex: &str) -> bool {
    let b = regex.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' | b'^' | b'$' | b'?' | b'*' | b'+' | b'|' | b'[' | b'(' | b'{' => return true,
            b'\\' => i += 1,
            _ => {}
        }
        i += 1;
    }
    false
}

/// A spec without meta characters as the one path it matches, when its escapes are all of
/// punctuation (`\.` is `.`); `None` when the regex engine would read it otherwise (`\d`, a
/// stray `)`), which leaves it to the regex.
fn plain_path(regex: &str) -> Option<Vec<u8>> {
    let b = regex.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let c = *b.get(i + 1)?;
                if c.is_ascii_alphanumeric() {
                    return None;
                }
                out.push(c);
                i += 2;
            }
            b')' | b']' | b'}' => return None,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// The bytes every match of `^REGEX$` starts with: the literal text before the first meta
/// character, less the character a quantifier makes optional; empty when a top-level `|` lets
/// the match start anywhere.
fn literal_prefix(regex: &str) -> Vec<u8> {
    if has_top_level_alternation(regex) {
        return Vec::new();
    }
    let b = regex.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'?' | b'*' | b'{' => {
                out.pop();
                break;
            }
            b'.' | b'^' | b'$' | b'+' | b'|' | b'[' | b'(' | b')' | b']' | b'}' => break,
            b'\\' => match b.get(i + 1) {
                Some(&c) if !c.is_ascii_alphanumeric() => {
                    // A quantifier after an escaped character makes it optional too.
                    if matches!(b.get(i + 2), Some(b'?' | b'*' | b'{')) {
                        break;
                    }
                    out.push(c);
                    i += 2;
                    continue;
                }
                _ => break,
            },
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Whether `regex` has a `|` outside every group and class.
fn has_top_level_alternation(regex: &str) -> bool {
    let b = regex.as_bytes();
    let (mut depth, mut i, mut in_class) = (0i32, 0, false);
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            i += 2;
            continue;
        }
        if in_class {
            if c == b']' {
                in_class = false;
            }
        } else {
            match c {
                b'[' => {
                    in_class = true;
                    // `]` right after `[` or `[^` is a member, not the end.
                    if b.get(i + 1) == Some(&b'^') {
                        i += 1;
                    }
                    if b.get(i + 1) == Some(&b']') {
                        i += 1;
                    }
                }
                b'(' => depth += 1,
                b')' => depth -= 1,
                b'|' if depth == 0 => return true,
                _ => {}
            }
        }
        i += 1;
    }
    false
}

/// PCRE syntax as the `regex` crate reads it the same way: an escaped punctuation character is
/// that character (PCRE's rule; the `regex` crate gives some escapes, `\<` `\>`, other
/// meanings).
fn translate(regex: &str) -> String {
    let mut out = String::with_capacity(regex.len() + 8);
    let mut chars = regex.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e) if e.is_ascii_alphanumeric() => {
                out.push('\\');
                out.push(e);
            }
            Some(e) => out.push_str(&regex::escape(e.encode_utf8(&mut [0; 4]))),
            None => out.push('\\'),
        }
    }
    out
}

/// A byte trie of spec prefixes.
#[derive(Debug, Default)]
struct PrefixTrie {
    /// Node 0 is the root (the empty prefix).
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Default)]
struct TrieNode {
    /// (byte, child node), sorted by byte.
    next: Vec<(u8, u32)>,
    /// Specs whose prefix ends here.
    specs: Vec<u32>,
}

impl PrefixTrie {
    fn insert(&mut self, prefix: &[u8], spec: u32) {
        if self.nodes.is_empty() {
            self.nodes.push(TrieNode::default());
        }
        let mut node = 0usize;
        for &b in prefix {
            let next = &self.nodes[node].next;
            node = match next.binary_search_by_key(&b, |&(c, _)| c) {
                Ok(k) => next[k].1 as usize,
                Err(k) => {
                    let id = self.nodes.len();
                    self.nodes.push(TrieNode::default());
                    self.nodes[node].next.insert(k, (b, id as u32));
                    id
                }
            };
        }
        self.nodes[node].specs.push(spec);
    }

    /// Every spec whose prefix is a prefix of `path`.
    fn collect(&self, path: &[u8], out: &mut Vec<u32>) {
        let Some(root) = self.nodes.first() else {
            return;
        };
        out.extend_from_slice(&root.specs);
        let mut node = root;
        for &b in path {
            match node.next.binary_search_by_key(&b, |&(c, _)| c) {
                Ok(k) => node = &self.nodes[node.next[k].1 as usize],
                Err(_) => return,
            }
            out.extend_from_slice(&node.specs);
        }
    }
}

/// The path as libselinux looks it up: runs of `/` as one, no trailing `/` (but `/` itself).
fn normalize(path: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let trailing = path.len() > 1 && path.ends_with(b"/");
    if !trailing && !path.windows(2).any(|w| w == b"//") {
        return path.into();
    }
    let mut out = Vec::with_capacity(path.len());
    for &b in path {
        if b == b'/' && out.last() == Some(&b'/') {
            continue;
        }
        out.push(b);
    }
    if out.len() > 1 && out.ends_with(b"/") {
        out.pop();
    }
    out.into()
}

/// An alias file's lines (`SRC DST`), in the order libselinux tries them: the last line first.
fn parse_subs(text: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let mut fields = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        let Some(src) = fields.next() else {
            continue;
        };
        if src.starts_with(b"#") {
            continue;
        }
        let Some(dst) = fields.next() else {
            continue;
        };
        out.push((src.to_vec(), dst.to_vec()));
    }
    out.reverse();
    out
}

/// The first alias of `subs` that applies to `path`, applied.
fn apply_alias(subs: &[(Vec<u8>, Vec<u8>)], path: &[u8]) -> Option<Vec<u8>> {
    for (src, dst) in subs {
        if !path.starts_with(src) {
            continue;
        }
        let rest = &path[src.len()..];
        match rest.first() {
            None | Some(b'/') => {
                // `SRC /` maps `SRC/x` to `/x`, not `//x`.
                let rest = if dst == b"/" && !rest.is_empty() {
                    &rest[1..]
                } else {
                    rest
                };
                let mut out = dst.clone();
                out.extend_from_slice(rest);
                return Some(out);
            }
            _ => {}
        }
    }
    None
}

fn with_suffix(base: &Path, suffix: &str) -> PathBuf {
    let mut s = base.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

/// A file other than a directory, met by the walk: labelled once every name of its inode is
/// known.
struct Found {
    /// Inode number (`d_ino`): names sharing one are hard links of one file.
    ino: u64,
    /// The path inside the root.
    key: Vec<u8>,
    file_type: FileType,
}

struct Walk<'a> {
    root: &'a Path,
    fc: &'a FileContexts,
    /// The root's sidecar as the walk found it: the device nodes its placeholders stand for.
    sidecar: &'a AttrStore,
    /// Labels the kernel refused (EPERM: an unprivileged user namespace), by root path, for
    /// the sidecar.
    refused: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
    paths: AtomicU64,
    labelled: AtomicU64,
    unlabelled: AtomicU64,
}

/// Label every path beneath `root` (the root itself included) with its context from `fc`, as
/// `setfiles` would: the `security.selinux` xattr set to the context and a NUL, on the path
/// itself (never a symlink's target). Paths whose lookup gives no context keep what they have.
/// A file with several names (hard links) gets the label of its first name in byte order, so
/// that the result does not depend on the order the walk met them (setfiles keeps the label
/// of the name it met first).
///
/// In an unprivileged user namespace the kernel refuses `security.*` xattrs (EPERM): the labels
/// then go into the root's sidecar ([`crate::attrs`]), which the image writers lay over the
/// root, and a device node's placeholder (an empty file there) is labelled as its device.
pub fn label_tree(root: &Path, fc: &FileContexts) -> Result<LabelStats, LabelError> {
    let mut sidecar = AttrStore::load(root)?;
    let walk = Walk {
        root,
        fc,
        sidecar: &sidecar,
        refused: Mutex::new(Vec::new()),
        paths: AtomicU64::new(0),
        labelled: AtomicU64::new(0),
        unlabelled: AtomicU64::new(0),
    };
    label_one(&walk, root, b"/", FileType::Directory, 1)?;
    // Directories are labelled as the walk meets them; the other files are collected with
    // their inode numbers from the directory entries (no stat call), then labelled per inode.
    let mut files = walk_dir(&walk, root, b"")?;
    files.par_sort_unstable_by(|a, b| (a.ino, &a.key).cmp(&(b.ino, &b.key)));
    let groups: Vec<&[Found]> = files.chunk_by(|a, b| a.ino == b.ino).collect();
    let conflicts = AtomicU64::new(0);
    groups.par_iter().try_for_each(|names| {
        let first = &names[0];
        if names.len() > 1 {
            let label = fc.lookup_bytes(&first.key, first.file_type);
            if names[1..]
                .iter()
                .any(|n| fc.lookup_bytes(&n.key, n.file_type) != label)
            {
                conflicts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    "hard links of {} have different SELinux specs; the first name's is used",
                    String::from_utf8_lossy(&first.key)
                );
            }
        }
        let host = walk.root.join(std::ffi::OsStr::from_bytes(&first.key[1..]));
        label_one(
            &walk,
            &host,
            &first.key,
            first.file_type,
            names.len() as u64,
        )
    })?;
    let stats = LabelStats {
        paths: walk.paths.into_inner(),
        labelled: walk.labelled.into_inner(),
        unlabelled: walk.unlabelled.into_inner(),
        link_conflicts: conflicts.into_inner(),
    };
    let refused = walk
        .refused
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !refused.is_empty() {
        tracing::debug!(
            "{} SELinux labels refused by the kernel: recorded in `{}`",
            refused.len(),
            AttrStore::sidecar(root).display()
        );
        for (key, value) in &refused {
            sidecar.set_xattr(
                Path::new(std::ffi::OsStr::from_bytes(key)),
                XATTR_NAME,
                value,
            );
        }
        // Once for the whole walk, not per path.
        sidecar.save(root)?;
    }
    Ok(stats)
}

/// Label the directories beneath `dir` (`key` inside the root); return the other files.
fn walk_dir(walk: &Walk<'_>, dir: &Path, key: &[u8]) -> Result<Vec<Found>, LabelError> {
    use std::os::unix::fs::DirEntryExt;
    let entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
        .map_err(IoError::at("read directory", dir))?
        .collect::<Result<_, _>>()
        .map_err(IoError::at("read directory", dir))?;
    let nested: Vec<Vec<Found>> = entries
        .par_iter()
        .map(|entry| {
            let mut child = Vec::with_capacity(key.len() + 1 + entry.file_name().len());
            child.extend_from_slice(key);
            child.push(b'/');
            child.extend_from_slice(entry.file_name().as_bytes());
            // d_type; a file system without it costs an lstat.
            let ft = entry
                .file_type()
                .map_err(IoError::at("read the type of", &entry.path()))?;
            let t = file_type_of(ft);
            if t == FileType::Directory {
                let host = entry.path();
                label_one(walk, &host, &child, t, 1)?;
                return walk_dir(walk, &host, &child);
            }
            Ok(vec![Found {
                ino: entry.ino(),
                key: child,
                file_type: t,
            }])
        })
        .collect::<Result<_, LabelError>>()?;
    Ok(nested.into_iter().flatten().collect())
}

fn file_type_of(ft: std::fs::FileType) -> FileType {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        FileType::Directory
    } else if ft.is_file() {
        FileType::Regular
    } else if ft.is_symlink() {
        FileType::Symlink
    } else if ft.is_block_device() {
        FileType::Block
    } else if ft.is_char_device() {
        FileType::Char
    } else if ft.is_fifo() {
        FileType::Fifo
    } else if ft.is_socket() {
        FileType::Socket
    } else {
        FileType::Any
    }
}

/// Label `host` (`key` inside the root) as a file of type `t`, which has `names` paths.
fn label_one(
    walk: &Walk<'_>,
    host: &Path,
    key: &[u8],
    t: FileType,
    names: u64,
) -> Result<(), LabelError> {
    walk.paths.fetch_add(names, Ordering::Relaxed);
    let t = match (t, walk.sidecar.is_empty()) {
        (FileType::Regular, false) => {
            match walk
                .sidecar
                .get(Path::new(std::ffi::OsStr::from_bytes(key)))
                .and_then(|a| a.device)
            {
                Some(Device::Char { .. }) => FileType::Char,
                Some(Device::Block { .. }) => FileType::Block,
                None => t,
            }
        }
        _ => t,
    };
    let Some(context) = walk.fc.lookup_bytes(key, t) else {
        walk.unlabelled.fetch_add(names, Ordering::Relaxed);
        return Ok(());
    };
    let mut value = Vec::with_capacity(context.len() + 1);
    value.extend_from_slice(context.as_bytes());
    value.push(0);
    match rustix::fs::lsetxattr(host, XATTR_NAME, &value, rustix::fs::XattrFlags::empty()) {
        Ok(()) => {}
        Err(rustix::io::Errno::PERM) => walk
            .refused
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((key.to_vec(), value)),
        Err(e) => return Err(IoError::new("set the SELinux label of", host, e.into()).into()),
    }
    walk.labelled.fetch_add(names, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fc(text: &str, subs: &str, dist: &str) -> FileContexts {
        FileContexts::parse(
            &[(Path::new("file_contexts"), text.as_bytes())],
            subs.as_bytes(),
            dist.as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn prefixes() {
        assert_eq!(literal_prefix("/usr/lib64?/foo"), b"/usr/lib6");
        assert_eq!(literal_prefix("/usr/(.*/)?man"), b"/usr/");
        assert_eq!(literal_prefix("/a\\.b(/.*)?"), b"/a.b");
        assert_eq!(literal_prefix("/a\\.?b"), b"/a");
        assert_eq!(literal_prefix("/a|/b"), b"");
        assert_eq!(literal_prefix("/a(x|y)"), b"/a");
        assert!(has_meta_chars("/a.b") && !has_meta_chars("/a\\.b"));
        assert_eq!(plain_path("/a\\.b\\-c").as_deref(), Some(&b"/a.b-c"[..]));
        assert_eq!(plain_path("/a\\d"), None);
    }

    #[test]
    fn exact_beats_regex_and_later_beats_earlier() {
        let f = fc(
            "/usr/bin/ls  ctx_exact\n/usr/bin(/.*)?  ctx_bin\n/usr/.*  ctx_usr\n/usr/bin/l.*  ctx_late\n",
            "",
            "",
        );
        assert_eq!(
            f.lookup("/usr/bin/ls", FileType::Regular),
            Some("ctx_exact")
        );
        assert_eq!(f.lookup("/usr/bin/lx", FileType::Regular), Some("ctx_late"));
        assert_eq!(f.lookup("/usr/bin/x", FileType::Regular), Some("ctx_usr"));
        assert_eq!(
            f.lookup("/usr//bin///lx", FileType::Regular),
            Some("ctx_late")
        );
        assert_eq!(f.lookup("/usr", FileType::Directory), None);
    }

    /// The expected values are libselinux 3.4's (`tests/oracle/selabel-lookup.py` on the same
    /// files).
    #[test]
    fn types_none_and_aliases() {
        let f = fc(
            "/.*  def\n/run/.*  <<none>>\n/mnt(/[^/]*)?  -d  mnt\n/mnt(/[^/]*)  -l  mntl\n/usr/lib(/.*)?  lib\n/ab|/cd  alt\n",
            "/srv/x /usr\n/srv /\n",
            "/lib /usr/lib\n/lib/x /run\n",
        );
        assert_eq!(f.lookup("/mnt/a", FileType::Directory), Some("mnt"));
        assert_eq!(f.lookup("/mnt/a", FileType::Symlink), Some("mntl"));
        assert_eq!(f.lookup("/mnt/a", FileType::Regular), Some("def"));
        assert_eq!(f.lookup("/mnt/a", FileType::Any), Some("mntl"));
        assert_eq!(f.lookup("/run/a", FileType::Regular), None);
        assert_eq!(f.lookup("/lib/a", FileType::Regular), Some("lib"));
        assert_eq!(f.lookup("/lib", FileType::Directory), Some("lib"));
        assert_eq!(f.lookup("/libx", FileType::Directory), Some("def"));
        // The last alias line is tried first.
        assert_eq!(f.lookup("/lib/x/y", FileType::Regular), None);
        // .subs first (`/srv /` turns `/srv/lib/a` into `/lib/a`), then .subs_dist; in .subs too
        // the last line wins (`/srv/x/lib` becomes `/x/lib`, not `/usr/lib`).
        assert_eq!(f.lookup("/srv/lib/a", FileType::Regular), Some("lib"));
        assert_eq!(f.lookup("/srv/x/lib", FileType::Regular), Some("def"));
        // A top-level `|` leaves `^/ab` and `/cd$` unanchored on the other side.
        assert_eq!(f.lookup("/abzz", FileType::Regular), Some("alt"));
        assert_eq!(f.lookup("/zz/cd", FileType::Regular), Some("alt"));
    }
}
