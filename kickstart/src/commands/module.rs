//! `module`: enable or disable a DNF module stream (pykickstart `RHEL8_Module`/`F31_Module`, a
//! real command in the RHEL 8 and 9 syntaxes; deprecated in RHEL 10 and removed in DEVEL, see
//! [`super::versions`]).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Action, Arg, OptParser, Val};

/// One `module` line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ModuleData {
    /// `--name`.
    pub name: String,
    /// `--stream`.
    pub stream: String,
    /// False with `--disable`.
    pub enable: bool,
}

impl ModuleData {
    fn render(&self) -> String {
        let mut s = format!("module --name={}", self.name);
        if !self.stream.is_empty() {
            s.push_str(&format!(" --stream={}", self.stream));
        }
        if !self.enable {
            s.push_str(" --disable");
        }
        s.push('\n');
        s
    }
}

/// `module` state: every line, in order.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Module {
    /// The lines.
    pub modules: Vec<ModuleData>,
}

impl Command for Module {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("module")
            .add(Arg::opt(&["--name"]).required())
            .add(Arg::opt(&["--stream"]))
            .add(
                Arg::opt(&["--disable"])
                    .dest("enable")
                    .action(Action::StoreFalse)
                    .default(Val::Bool(true)),
            );
        let (ns, extra) = ctx.parse_known(&op, args)?;
        if !extra.is_empty() {
            return Err(KsError::bad(
                "The enable module command does not take position arguments!",
            ));
        }
        self.modules.push(ModuleData {
            name: ns.str("name").unwrap_or_default(),
            stream: ns.str("stream").unwrap_or_default(),
            enable: ns.opt_bool("enable").unwrap_or(true),
        });
        Ok(Parsed::Item(self.modules.len() - 1))
    }
    fn render(&self) -> String {
        self.modules.iter().map(ModuleData::render).collect()
    }
    fn render_item(&self, idx: usize) -> String {
        self.modules[idx].render()
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Module>::default()
}
