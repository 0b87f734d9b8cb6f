//! `lang`: the system language (pykickstart `F19_Lang`).

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser, Ty};

/// `lang` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Lang {
    /// The language id (`en_US.UTF-8`); empty when unset.
    pub lang: String,
    /// `--addsupport`: extra locales whose support packages are installed.
    pub addsupport: Vec<String>,
}

/// pykickstart's "Unexpected arguments to X command: [...]" message.
pub(crate) fn unexpected_args(cmd: &str, extra: &[String]) -> KsError {
    let list: Vec<String> = extra.iter().map(|e| crate::options::py_repr(e)).collect();
    KsError::bad(format!(
        "Unexpected arguments to {cmd} command: [{}]",
        list.join(", ")
    ))
}

impl Command for Lang {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("lang")
            .add(Arg::pos("lang", Nargs::One))
            .add(Arg::opt(&["--addsupport"]).ty(Ty::CommaSplit));
        let (ns, extra) = ctx.parse_known(&op, args)?;
        if !extra.is_empty() {
            return Err(unexpected_args("lang", &extra));
        }
        ns.merge_list("addsupport", &mut self.addsupport);
        self.lang = ns.str("lang").unwrap_or_default();
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.lang.is_empty() {
            return String::new();
        }
        let mut s = format!("# System language\nlang {}", self.lang);
        if !self.addsupport.is_empty() {
            s.push_str(&format!(" --addsupport={}", self.addsupport.join(",")));
        }
        s.push('\n');
        s
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Lang>::default()
}
