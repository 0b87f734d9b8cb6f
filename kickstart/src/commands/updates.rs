//! `updates`: location of an installer updates image (pykickstart `F34_Updates`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser};
use crate::KsVersion;

/// `updates` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Updates {
    /// The updates image URL; empty when unset.
    pub url: String,
    /// Syntax version.
    #[serde(skip)]
    pub version: KsVersion,
}

impl Command for Updates {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        self.version = ctx.version;
        if ctx.version == KsVersion::Rhel8 {
            // F7_Updates: the URL is optional; none means a floppy.
            let op = OptParser::new("updates").add(Arg::pos("updates", Nargs::Any));
            let (ns, extra) = ctx.parse_known(&op, args)?;
            let urls = ns.list("updates");
            if urls.len() > 1 {
                return Err(KsError::bad(
                    "Kickstart command updates only takes one argument",
                ));
            }
            if !extra.is_empty() {
                let list: Vec<String> = extra.iter().map(|e| crate::options::py_repr(e)).collect();
                return Err(KsError::bad(format!(
                    "Unexpected arguments to updates command: [{}]",
                    list.join(", ")
                )));
            }
            self.url = urls.into_iter().next().unwrap_or_else(|| "floppy".into());
            return Ok(Parsed::Command);
        }
        let op = OptParser::new("updates").add(Arg::pos("url", Nargs::One));
        let ns = ctx.parse(&op, args)?;
        self.url = ns.str("url").unwrap_or_default();
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        match self.url.as_str() {
            "" => String::new(),
            // F7_Updates writes its floppy default as the bare command.
            "floppy" if self.version == KsVersion::Rhel8 => "updates\n".into(),
            u => format!("updates {u}\n"),
        }
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Updates>::default()
}
