//! Command option parsing with the semantics pykickstart inherits from Python's `argparse`
//! (3.11): unique-prefix abbreviations of long options, `--opt=value` and `--opt value`,
//! positionals matched in chunks between options, `store_true` refusing an explicit value, and
//! the same failure cases. Commands declare their options with [`Arg`] and read the result from
//! a [`Namespace`].

use std::collections::HashMap;

/// A parsed option value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// Not set (Python `None`).
    None,
    /// A boolean flag.
    Bool(bool),
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A list of strings (append, extend, comma lists, `nargs='*'`).
    List(Vec<String>),
}

impl Val {
    /// The value as an optional string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// How many values an argument takes (argparse `nargs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nargs {
    /// Exactly one (argparse default).
    One,
    /// Zero or one (`?`).
    Optional,
    /// Zero or more (`*`).
    Any,
    /// One or more (`+`).
    Some,
}

/// What an option does with its values.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Store the converted value(s).
    Store,
    /// Store `true` (takes no value).
    StoreTrue,
    /// Store `false` (takes no value).
    StoreFalse,
    /// Store a constant (takes no value).
    StoreConst(Val),
    /// Append the converted value to a list.
    Append,
    /// Extend a list with a converted list value (pykickstart's `ExtendAction`).
    Extend,
    /// Extend a list with constants (pykickstart's `ExtendConstAction`).
    ExtendConst(Vec<String>),
}

/// Conversion of one string value (argparse `type=`).
#[derive(Clone)]
pub enum Ty {
    /// Keep the string.
    Str,
    /// Python `int()`.
    Int,
    /// Python `float()`.
    Float,
    /// pykickstart `ksboolean`: on/yes/true/1, off/no/false/0.
    Bool,
    /// pykickstart `commaSplit`: split on commas, strip, drop empties.
    CommaSplit,
    /// pykickstart `mountpoint`: normalise absolute paths.
    Mountpoint,
    /// Any other conversion; the name is used in "invalid NAME value" errors.
    Custom(&'static str, fn(&str) -> Result<Val, ValueError>),
}

/// Why a [`Ty::Custom`] conversion refused a value (Python's `ValueError` from an argparse
/// `type=` callable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Refused without a message: reported as argparse's "invalid NAME value: 'x'".
    #[error("invalid value")]
    Invalid,
    /// Refused with the converter's own message, reported after "argument --opt: ".
    #[error("{0}")]
    Message(String),
}

impl std::fmt::Debug for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ty::Custom(n, _) => write!(f, "Custom({n})"),
            Ty::Str => f.write_str("Str"),
            Ty::Int => f.write_str("Int"),
            Ty::Float => f.write_str("Float"),
            Ty::Bool => f.write_str("Bool"),
            Ty::CommaSplit => f.write_str("CommaSplit"),
            Ty::Mountpoint => f.write_str("Mountpoint"),
        }
    }
}

/// One option or positional argument.
#[derive(Debug, Clone)]
pub struct Arg {
    /// Option strings (`--size`, `-s`); empty for a positional.
    pub names: Vec<&'static str>,
    /// Where the value goes.
    pub dest: String,
    /// What to do.
    pub action: Action,
    /// How many values.
    pub nargs: Nargs,
    /// Conversion.
    pub ty: Ty,
    /// Value when absent.
    pub default: Val,
    /// Value for `nargs=Optional` given without a value.
    pub konst: Val,
    /// Allowed values.
    pub choices: Option<Vec<&'static str>>,
    /// Must be given.
    pub required: bool,
    /// Deprecated: accepted with a deprecation warning and no effect.
    pub deprecated: bool,
    /// Removed: treated as unknown (kept only for documentation).
    pub metavar: Option<&'static str>,
}

fn dest_from(name: &str) -> String {
    name.trim_start_matches('-').replace('-', "_")
}

impl Arg {
    /// An option taking one string value, `dest` from the first name.
    pub fn opt(names: &[&'static str]) -> Arg {
        Arg {
            dest: dest_from(names[0]),
            names: names.to_vec(),
            action: Action::Store,
            nargs: Nargs::One,
            ty: Ty::Str,
            default: Val::None,
            konst: Val::None,
            choices: None,
            required: false,
            deprecated: false,
            metavar: None,
        }
    }
    /// A `store_true` flag with default `false`.
    pub fn flag(names: &[&'static str]) -> Arg {
        let mut a = Arg::opt(names);
        a.action = Action::StoreTrue;
        a.default = Val::Bool(false);
        a
    }
    /// A positional argument.
    pub fn pos(dest: &str, nargs: Nargs) -> Arg {
        Arg {
            names: Vec::new(),
            dest: dest.to_string(),
            action: Action::Store,
            nargs,
            ty: Ty::Str,
            default: Val::None,
            konst: Val::None,
            choices: None,
            required: matches!(nargs, Nargs::One | Nargs::Some),
            deprecated: false,
            metavar: None,
        }
    }
    /// Set the destination name.
    pub fn dest(mut self, d: &str) -> Arg {
        self.dest = d.to_string();
        self
    }
    /// Set the action.
    pub fn action(mut self, a: Action) -> Arg {
        self.action = a;
        self
    }
    /// Set the conversion.
    pub fn ty(mut self, t: Ty) -> Arg {
        self.ty = t;
        self
    }
    /// Set nargs.
    pub fn nargs(mut self, n: Nargs) -> Arg {
        self.nargs = n;
        self
    }
    /// Set the default.
    pub fn default(mut self, v: Val) -> Arg {
        self.default = v;
        self
    }
    /// Set the const for `nargs=Optional`.
    pub fn konst(mut self, v: Val) -> Arg {
        self.konst = v;
        self
    }
    /// Restrict values.
    pub fn choices(mut self, c: &[&'static str]) -> Arg {
        self.choices = Some(c.to_vec());
        self
    }
    /// Mark required.
    pub fn required(mut self) -> Arg {
        self.required = true;
        self
    }
    /// Mark deprecated.
    pub fn deprecated(mut self) -> Arg {
        self.deprecated = true;
        self
    }

    fn is_optional(&self) -> bool {
        !self.names.is_empty()
    }

    fn display_name(&self) -> String {
        if self.is_optional() {
            self.names.join("/")
        } else {
            self.metavar
                .map(str::to_string)
                .unwrap_or_else(|| self.dest.clone())
        }
    }

    /// (min, max) values this argument consumes; max None = unbounded.
    fn arity(&self) -> (usize, Option<usize>) {
        match self.action {
            Action::StoreTrue
            | Action::StoreFalse
            | Action::StoreConst(_)
            | Action::ExtendConst(_) => (0, Some(0)),
            _ => match self.nargs {
                Nargs::One => (1, Some(1)),
                Nargs::Optional => (0, Some(1)),
                Nargs::Any => (0, None),
                Nargs::Some => (1, None),
            },
        }
    }
}

/// An error from option parsing, with argparse's wording.
#[derive(Debug, Clone, PartialEq)]
pub struct OptError {
    /// The message.
    pub message: String,
    /// The argument (as written) the error is about, for carets.
    pub token: Option<String>,
}

impl std::fmt::Display for OptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn err(message: String, token: Option<&str>) -> OptError {
    OptError {
        message,
        token: token.map(str::to_string),
    }
}

/// The result of a parse: values by destination, plus which options were seen.
#[derive(Debug, Clone, Default)]
pub struct Namespace {
    vals: HashMap<String, Val>,
    /// Destinations given explicitly on the line.
    pub seen: Vec<String>,
    /// Option strings (canonical) of deprecated options that were used.
    pub deprecated_used: Vec<String>,
}

impl Namespace {
    /// Raw value.
    pub fn get(&self, dest: &str) -> &Val {
        self.vals.get(dest).unwrap_or(&Val::None)
    }
    /// Set a value.
    pub fn set(&mut self, dest: &str, v: Val) {
        self.vals.insert(dest.to_string(), v);
    }
    /// String value, if set.
    pub fn str(&self, dest: &str) -> Option<String> {
        match self.get(dest) {
            Val::Str(s) => Some(s.clone()),
            Val::Int(i) => Some(i.to_string()),
            _ => None,
        }
    }
    /// Boolean value (`None` and unset count as false).
    pub fn bool(&self, dest: &str) -> bool {
        matches!(self.get(dest), Val::Bool(true))
    }
    /// Optional boolean value.
    pub fn opt_bool(&self, dest: &str) -> Option<bool> {
        match self.get(dest) {
            Val::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// Integer value, if set.
    pub fn int(&self, dest: &str) -> Option<i64> {
        match self.get(dest) {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// Float value, if set.
    pub fn float(&self, dest: &str) -> Option<f64> {
        match self.get(dest) {
            Val::Float(f) => Some(*f),
            Val::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    /// List value (empty when unset).
    pub fn list(&self, dest: &str) -> Vec<String> {
        match self.get(dest) {
            Val::List(l) => l.clone(),
            Val::Str(s) => vec![s.clone()],
            _ => Vec::new(),
        }
    }
    /// Whether the list/str value is set at all (distinguishes `[]` from `None`).
    pub fn is_none(&self, dest: &str) -> bool {
        matches!(self.get(dest), Val::None)
    }
    /// Whether the destination was given on the line.
    pub fn was_seen(&self, dest: &str) -> bool {
        self.seen.iter().any(|d| d == dest)
    }
    /// pykickstart `set_to_obj` for one string destination: overwrite `field` only when the
    /// parsed value is not None (so a later line keeps what it does not mention).
    pub fn merge_str(&self, dest: &str, field: &mut Option<String>) {
        if !self.is_none(dest) {
            *field = self.str(dest);
        }
    }
    /// [`Namespace::merge_str`] for a list destination.
    pub fn merge_list(&self, dest: &str, field: &mut Vec<String>) {
        if !self.is_none(dest) {
            *field = self.list(dest);
        }
    }
}

/// An argparse-like parser for one command or section header.
#[derive(Debug, Clone, Default)]
pub struct OptParser {
    /// Program name (the command word) used in messages.
    pub prog: String,
    args: Vec<Arg>,
}

/// Python's `int()` on a string: surrounding whitespace, a sign, underscores between digits.
pub fn py_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    if !clean.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: i64 = clean.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Python's `float()` on a string (finite decimal forms, inf and nan).
pub fn py_float(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t.contains("__") || t.starts_with('_') || t.ends_with('_') {
        return None;
    }
    let clean: String = t.chars().filter(|c| *c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if matches!(body, "inf" | "infinity" | "nan") {
        return clean.parse().ok().or(Some(if lower.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }));
    }
    if !clean
        .chars()
        .all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
    {
        return None;
    }
    clean.parse().ok()
}

/// Python's `os.path.normpath` for an absolute path.
pub fn normpath(p: &str) -> String {
    let initial = if p.starts_with("//") && !p.starts_with("///") {
        "//"
    } else if p.starts_with('/') {
        "/"
    } else {
        ""
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        if c.is_empty() || c == "." {
            continue;
        }
        if c == ".." {
            if !initial.is_empty() && parts.is_empty() {
                continue;
            }
            if parts.last().is_some_and(|l| *l != "..") {
                parts.pop();
                continue;
            }
        }
        parts.push(c);
    }
    let joined = parts.join("/");
    let r = format!("{initial}{joined}");
    if r.is_empty() {
        ".".to_string()
    } else {
        r
    }
}

/// pykickstart's `commaSplit`.
pub fn comma_split(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

/// pykickstart's `ksboolean`.
pub fn ks_boolean(s: &str) -> Option<bool> {
    match s.to_lowercase().as_str() {
        "on" | "yes" | "true" | "1" => Some(true),
        "off" | "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// Python's `repr()` of a string, for error messages.
pub fn py_repr(s: &str) -> String {
    if s.contains('\'') && !s.contains('"') {
        format!("\"{s}\"")
    } else {
        format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

enum Classified {
    Positional,
    Known {
        idx: usize,
        opt: String,
        explicit: Option<String>,
    },
    Unknown,
}

impl OptParser {
    /// A parser for `prog`.
    pub fn new(prog: &str) -> OptParser {
        OptParser {
            prog: prog.to_string(),
            args: Vec::new(),
        }
    }

    /// Add an argument. A later option string replaces an earlier one (argparse "resolve").
    pub fn add(mut self, a: Arg) -> OptParser {
        self.push(a);
        self
    }

    /// Add an argument in place.
    pub fn push(&mut self, a: Arg) {
        if a.is_optional() {
            for old in &mut self.args {
                old.names.retain(|n| !a.names.contains(n));
            }
            self.args
                .retain(|o| !o.is_optional() || !o.names.is_empty());
        }
        self.args.push(a);
    }

    /// Remove an option string (pykickstart `remove_argument`).
    pub fn remove(&mut self, name: &str) {
        self.args.retain(|a| !a.names.contains(&name));
    }

    /// The declared arguments.
    pub fn args(&self) -> &[Arg] {
        &self.args
    }

    fn option_strings(&self) -> impl Iterator<Item = (usize, &'static str)> + '_ {
        self.args
            .iter()
            .enumerate()
            .flat_map(|(i, a)| a.names.iter().map(move |n| (i, *n)))
    }

    fn classify(&self, s: &str) -> Result<Classified, OptError> {
        if s.is_empty() || !s.starts_with('-') {
            return Ok(Classified::Positional);
        }
        if let Some((i, n)) = self.option_strings().find(|(_, n)| *n == s) {
            return Ok(Classified::Known {
                idx: i,
                opt: n.to_string(),
                explicit: None,
            });
        }
        if s.len() == 1 {
            return Ok(Classified::Positional);
        }
        if let Some((o, v)) = s.split_once('=') {
            if let Some((i, n)) = self.option_strings().find(|(_, n)| *n == o) {
                return Ok(Classified::Known {
                    idx: i,
                    opt: n.to_string(),
                    explicit: Some(v.to_string()),
                });
            }
        }
        // Unique-prefix abbreviations.
        let mut matches: Vec<(usize, &'static str, Option<String>)> = Vec::new();
        let second_dash = s[1..].starts_with('-');
        if second_dash {
            let (prefix, explicit) = match s.split_once('=') {
                Some((p, v)) => (p, Some(v.to_string())),
                None => (s, None),
            };
            for (i, n) in self.option_strings() {
                if n.starts_with(prefix) {
                    matches.push((i, n, explicit.clone()));
                }
            }
        } else {
            let short = &s[..s.char_indices().nth(2).map(|(i, _)| i).unwrap_or(s.len())];
            let short_explicit = &s[short.len()..];
            for (i, n) in self.option_strings() {
                if n == short {
                    matches.push((i, n, Some(short_explicit.to_string())));
                } else if n.starts_with(s) {
                    matches.push((i, n, None));
                }
            }
        }
        if matches.len() > 1 {
            let names: Vec<&str> = matches.iter().map(|m| m.1).collect();
            return Err(err(
                format!("ambiguous option: {} could match {}", s, names.join(", ")),
                Some(s),
            ));
        }
        if let Some((i, n, e)) = matches.pop() {
            return Ok(Classified::Known {
                idx: i,
                opt: n.to_string(),
                explicit: e,
            });
        }
        let neg_number = {
            let r = &s[1..];
            (!r.is_empty() && r.chars().all(|c| c.is_ascii_digit()))
                || r.split_once('.').is_some_and(|(a, b)| {
                    a.chars().all(|c| c.is_ascii_digit())
                        && !b.is_empty()
                        && b.chars().all(|c| c.is_ascii_digit())
                })
        };
        if neg_number || s.contains(' ') {
            return Ok(Classified::Positional);
        }
        Ok(Classified::Unknown)
    }

    fn convert(&self, a: &Arg, s: &str) -> Result<Val, OptError> {
        let name = a.display_name();
        let v = match &a.ty {
            Ty::Str => Val::Str(s.to_string()),
            Ty::Int => Val::Int(py_int(s).ok_or_else(|| {
                err(
                    format!("argument {name}: invalid int value: {}", py_repr(s)),
                    Some(s),
                )
            })?),
            Ty::Float => Val::Float(py_float(s).ok_or_else(|| {
                err(
                    format!("argument {name}: invalid float value: {}", py_repr(s)),
                    Some(s),
                )
            })?),
            Ty::Bool => Val::Bool(ks_boolean(s).ok_or_else(|| {
                err(
                    format!("argument {name}: invalid boolean value: {}", py_repr(s)),
                    Some(s),
                )
            })?),
            Ty::CommaSplit => Val::List(comma_split(s)),
            Ty::Mountpoint => Val::Str(if s.starts_with('/') {
                normpath(s)
            } else {
                s.to_string()
            }),
            Ty::Custom(tn, f) => f(s).map_err(|e| match e {
                ValueError::Invalid => err(
                    format!("argument {name}: invalid {tn} value: {}", py_repr(s)),
                    Some(s),
                ),
                ValueError::Message(m) => err(format!("argument {name}: {m}"), Some(s)),
            })?,
        };
        if let Some(ch) = &a.choices {
            let sv = match &v {
                Val::Str(x) => x.clone(),
                Val::Int(i) => i.to_string(),
                _ => s.to_string(),
            };
            if !ch.iter().any(|c| *c == sv) {
                let list: Vec<String> = ch.iter().map(|c| py_repr(c)).collect();
                return Err(err(
                    format!(
                        "argument {name}: invalid choice: {} (choose from {})",
                        py_repr(s),
                        list.join(", ")
                    ),
                    Some(s),
                ));
            }
        }
        Ok(v)
    }

    fn values(&self, a: &Arg, strs: &[String], optional_no_value: bool) -> Result<Val, OptError> {
        match a.action {
            Action::StoreTrue => return Ok(Val::Bool(true)),
            Action::StoreFalse => return Ok(Val::Bool(false)),
            Action::StoreConst(ref v) => return Ok(v.clone()),
            Action::ExtendConst(ref v) => return Ok(Val::List(v.clone())),
            _ => {}
        }
        match a.nargs {
            Nargs::One => self.convert(a, &strs[0]),
            Nargs::Optional => {
                if strs.is_empty() {
                    if optional_no_value {
                        Ok(a.konst.clone())
                    } else {
                        Ok(a.default.clone())
                    }
                } else {
                    self.convert(a, &strs[0])
                }
            }
            Nargs::Any | Nargs::Some => {
                if strs.is_empty() && !a.is_optional() {
                    return Ok(if a.default == Val::None {
                        Val::List(Vec::new())
                    } else {
                        a.default.clone()
                    });
                }
                let mut out = Vec::new();
                for s in strs {
                    match self.convert(a, s)? {
                        Val::Str(x) => out.push(x),
                        Val::List(l) => out.extend(l),
                        Val::Int(i) => out.push(i.to_string()),
                        other => out.push(format!("{other:?}")),
                    }
                }
                Ok(Val::List(out))
            }
        }
    }

    fn apply(&self, ns: &mut Namespace, a: &Arg, v: Val) {
        match &a.action {
            Action::Append => {
                let mut l = ns.list(&a.dest);
                if let Val::None = ns.get(&a.dest) {
                    l.clear();
                }
                match v {
                    Val::Str(s) => l.push(s),
                    Val::List(x) => l.push(x.join(",")),
                    Val::Int(i) => l.push(i.to_string()),
                    other => l.push(format!("{other:?}")),
                }
                ns.set(&a.dest, Val::List(l));
            }
            Action::Extend | Action::ExtendConst(_) => {
                let mut l = match ns.get(&a.dest) {
                    Val::List(l) => l.clone(),
                    _ => Vec::new(),
                };
                match v {
                    Val::List(x) => l.extend(x),
                    Val::Str(s) => l.push(s),
                    _ => {}
                }
                ns.set(&a.dest, Val::List(l));
            }
            _ => ns.set(&a.dest, v),
        }
    }

    /// Parse, leaving unknown options and surplus positionals in the returned extras
    /// (argparse `parse_known_args`).
    pub fn parse_known(&self, argv: &[String]) -> Result<(Namespace, Vec<String>), OptError> {
        let mut ns = Namespace::default();
        for a in &self.args {
            if !ns.vals.contains_key(&a.dest) {
                ns.vals.insert(a.dest.clone(), a.default.clone());
            }
        }
        // Classify every string: 'O' option, 'A' argument; "--" ends options.
        let mut kinds: Vec<char> = Vec::with_capacity(argv.len());
        let mut classes: Vec<Option<Classified>> = Vec::with_capacity(argv.len());
        let mut after_dd = false;
        for s in argv {
            if after_dd {
                kinds.push('A');
                classes.push(None);
                continue;
            }
            if s == "--" {
                after_dd = true;
                kinds.push('-');
                classes.push(None);
                continue;
            }
            match self.classify(s)? {
                Classified::Positional => {
                    kinds.push('A');
                    classes.push(None);
                }
                c => {
                    kinds.push('O');
                    classes.push(Some(c));
                }
            }
        }
        let mut positionals: Vec<usize> = self
            .args
            .iter()
            .enumerate()
            .filter(|(_, a)| !a.is_optional())
            .map(|(i, _)| i)
            .collect();
        let mut extras: Vec<String> = Vec::new();
        let mut seen_actions: Vec<usize> = Vec::new();
        let option_indices: Vec<usize> = kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| **k == 'O')
            .map(|(i, _)| i)
            .collect();
        let max_opt = option_indices.last().copied();

        let mut start = 0usize;
        // Mirrors argparse's consume_positionals: match as many positionals as possible against
        // the run of plain arguments at `start`.
        let consume_positionals = |start: usize,
                                   positionals: &mut Vec<usize>,
                                   ns: &mut Namespace,
                                   seen: &mut Vec<usize>|
         -> Result<usize, OptError> {
            let mut run = 0usize;
            let mut dd = 0usize;
            let mut i = start;
            while i < kinds.len() && kinds[i] != 'O' {
                if kinds[i] == 'A' {
                    run += 1;
                } else {
                    dd += 1;
                }
                i += 1;
            }
            let _ = dd;
            // Find the largest prefix of positionals that matches, greedy counts.
            for take in (0..=positionals.len()).rev() {
                let specs: Vec<(usize, Option<usize>)> = positionals[..take]
                    .iter()
                    .map(|&p| self.args[p].arity())
                    .collect();
                let mins: usize = specs.iter().map(|s| s.0).sum();
                if mins > run {
                    continue;
                }
                let mut counts = Vec::new();
                let mut avail = run;
                for (j, (mn, mx)) in specs.iter().enumerate() {
                    let later_min: usize = specs[j + 1..].iter().map(|s| s.0).sum();
                    let can = avail - later_min;
                    let c = match mx {
                        Some(m) => can.min(*m),
                        None => can,
                    };
                    debug_assert!(c >= *mn);
                    counts.push(c);
                    avail -= c;
                }
                // Apply.
                let mut pos = start;
                for (j, &c) in counts.iter().enumerate() {
                    let mut strs = Vec::new();
                    let mut taken = 0;
                    while taken < c {
                        if kinds[pos] == 'A' {
                            strs.push(argv[pos].clone());
                            taken += 1;
                        }
                        pos += 1;
                    }
                    let ai = positionals[j];
                    let a = &self.args[ai];
                    let v = self.values(a, &strs, false)?;
                    seen.push(ai);
                    if !strs.is_empty() || a.nargs == Nargs::One {
                        ns.seen.push(a.dest.clone());
                    }
                    self.apply(ns, a, v);
                }
                positionals.drain(..take);
                // Skip "--" markers inside the consumed region.
                while pos < kinds.len() && kinds[pos] == '-' {
                    pos += 1;
                }
                return Ok(pos);
            }
            Ok(start)
        };

        if let Some(max_opt) = max_opt {
            while start <= max_opt {
                let next_opt = *option_indices.iter().find(|&&i| i >= start).unwrap();
                // argparse only tries positionals when plain strings precede the next option
                // (otherwise a '*' positional would be consumed empty here).
                if start != next_opt {
                    let end =
                        consume_positionals(start, &mut positionals, &mut ns, &mut seen_actions)?;
                    if end > start {
                        start = end;
                        continue;
                    }
                    start = end;
                }
                if !option_indices.contains(&start) {
                    for s in &argv[start..next_opt] {
                        if s != "--" {
                            extras.push(s.clone());
                        }
                    }
                    start = next_opt;
                }
                // consume_optional
                let Some(Classified::Known { idx, opt, explicit }) = classes[start].take() else {
                    extras.push(argv[start].clone());
                    start += 1;
                    continue;
                };
                let a = &self.args[idx];
                if a.deprecated {
                    ns.deprecated_used.push(a.names[0].to_string());
                }
                let (mn, mx) = a.arity();
                let (strs, stop, no_value) = if let Some(e) = explicit {
                    if mx == Some(0) {
                        return Err(err(
                            format!(
                                "argument {}: ignored explicit argument {}",
                                a.display_name(),
                                py_repr(&e)
                            ),
                            Some(&argv[start]),
                        ));
                    }
                    (vec![e], start + 1, false)
                } else {
                    let mut j = start + 1;
                    let mut avail = 0;
                    while j < kinds.len() && kinds[j] == 'A' {
                        avail += 1;
                        j += 1;
                    }
                    if avail < mn {
                        let msg = match a.nargs {
                            Nargs::Some => "expected at least one argument",
                            _ => "expected one argument",
                        };
                        return Err(err(
                            format!("argument {}: {}", a.display_name(), msg),
                            Some(&opt),
                        ));
                    }
                    let n = match mx {
                        Some(m) => avail.min(m),
                        None => avail,
                    };
                    (
                        argv[start + 1..start + 1 + n].to_vec(),
                        start + 1 + n,
                        n == 0,
                    )
                };
                let v = self.values(a, &strs, no_value)?;
                seen_actions.push(idx);
                ns.seen.push(a.dest.clone());
                self.apply(&mut ns, a, v);
                start = stop;
            }
        }
        let stop = consume_positionals(start, &mut positionals, &mut ns, &mut seen_actions)?;
        for s in &argv[stop.min(argv.len())..] {
            if s != "--" {
                extras.push(s.clone());
            }
        }
        // Required arguments.
        let missing: Vec<String> = self
            .args
            .iter()
            .enumerate()
            .filter(|(i, a)| a.required && !seen_actions.contains(i))
            .map(|(_, a)| a.display_name())
            .collect();
        if !missing.is_empty() {
            return Err(err(
                format!(
                    "the following arguments are required: {}",
                    missing.join(", ")
                ),
                None,
            ));
        }
        // String defaults go through the conversion, as argparse does.
        for (i, a) in self.args.iter().enumerate() {
            if seen_actions.contains(&i) {
                continue;
            }
            if let Val::Str(s) = &a.default {
                if ns.get(&a.dest) == &a.default && !matches!(a.ty, Ty::Str) {
                    let v = self.convert(a, s)?;
                    ns.set(&a.dest, v);
                }
            }
        }
        Ok((ns, extras))
    }

    /// Parse and reject anything unknown (argparse `parse_args`).
    pub fn parse(&self, argv: &[String]) -> Result<Namespace, OptError> {
        let (ns, extras) = self.parse_known(argv)?;
        if !extras.is_empty() {
            return Err(err(
                format!("unrecognized arguments: {}", extras.join(" ")),
                extras.first().map(|s| s.as_str()),
            ));
        }
        Ok(ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn abbreviations_and_explicit_values() {
        let p = OptParser::new("x")
            .add(Arg::opt(&["--size"]).ty(Ty::Int))
            .add(Arg::opt(&["--start"]))
            .add(Arg::flag(&["--grow"]))
            .add(Arg::pos("mnt", Nargs::One));
        let ns = p.parse(&v(&["/", "--si=5", "--gr"])).unwrap();
        assert_eq!(ns.int("size"), Some(5));
        assert!(ns.bool("grow"));
        assert_eq!(ns.str("mnt").as_deref(), Some("/"));
        assert!(p
            .parse(&v(&["/", "--s=5"]))
            .unwrap_err()
            .message
            .starts_with("ambiguous option"));
        assert!(p
            .parse(&v(&["/", "--grow=1"]))
            .unwrap_err()
            .message
            .contains("ignored explicit argument"));
        assert!(p
            .parse(&v(&["/", "--size"]))
            .unwrap_err()
            .message
            .contains("expected one argument"));
        assert!(p
            .parse(&v(&["/", "--size", "x"]))
            .unwrap_err()
            .message
            .contains("invalid int value"));
        assert!(p
            .parse(&v(&["--size", "1"]))
            .unwrap_err()
            .message
            .contains("required"));
        assert!(p
            .parse(&v(&["/", "--bogus"]))
            .unwrap_err()
            .message
            .contains("unrecognized"));
    }

    #[test]
    fn star_positional_quirk_matches_argparse() {
        // argparse (3.11.7) consumes a '*' positional empty when the plain strings before an
        // option are used up by earlier positionals, but not when an option comes first: then
        // the strings after the option fill it.
        let p = OptParser::new("raid")
            .add(Arg::opt(&["--level"]))
            .add(Arg::pos("parts", Nargs::Any));
        let (ns, extra) = p.parse_known(&v(&["--level=1", "a", "b"])).unwrap();
        assert_eq!(ns.list("parts"), v(&["a", "b"]));
        assert!(extra.is_empty());
        let q = OptParser::new("raid")
            .add(Arg::opt(&["--level"]))
            .add(Arg::pos("mnt", Nargs::One))
            .add(Arg::pos("parts", Nargs::Any));
        let (ns, extra) = q.parse_known(&v(&["/", "--level=1", "a", "b"])).unwrap();
        assert_eq!(ns.list("parts"), Vec::<String>::new());
        assert_eq!(extra, v(&["a", "b"]));
        let (ns, extra) = q.parse_known(&v(&["--level=1", "/", "a", "b"])).unwrap();
        assert_eq!(ns.str("mnt").as_deref(), Some("/"));
        assert_eq!(ns.list("parts"), v(&["a", "b"]));
        assert!(extra.is_empty());
        let (ns, extra) = p.parse_known(&v(&["a", "b", "--level=1"])).unwrap();
        assert_eq!(ns.list("parts"), v(&["a", "b"]));
        assert!(extra.is_empty());
        // ...but a '*' positional used up before an option leaves later strings as extras.
        let (ns, extra) = p.parse_known(&v(&["a", "--level=1", "b"])).unwrap();
        assert_eq!(ns.list("parts"), v(&["a"]));
        assert_eq!(extra, v(&["b"]));
        // A '?' positional after a flag takes the following string.
        let p = OptParser::new("rootpw")
            .add(Arg::pos("password", Nargs::Optional))
            .add(Arg::flag(&["--iscrypted"]));
        let ns = p.parse(&v(&["--iscrypted", "secret"])).unwrap();
        assert_eq!(ns.str("password").as_deref(), Some("secret"));
    }

    #[test]
    fn normpath_like_python() {
        assert_eq!(normpath("/a//b/../c/."), "/a/c");
        assert_eq!(normpath("/"), "/");
        assert_eq!(normpath("//x"), "//x");
        assert_eq!(normpath("/.."), "/");
    }
}
