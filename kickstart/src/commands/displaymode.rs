//! `cmdline`, `graphical`, `text`: the installer's display mode (pykickstart
//! `F26_DisplayMode`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// Installer display mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DisplayMode {
    /// `cmdline`.
    Cmdline,
    /// `graphical`.
    Graphical,
    /// `text`.
    Text,
}

/// Display mode state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DisplayModeCmd {
    /// The mode; `None` when unset.
    pub mode: Option<DisplayMode>,
    /// `--non-interactive`.
    pub non_interactive: bool,
}

impl Command for DisplayModeCmd {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op =
            OptParser::new(ctx.cmd).add(Arg::flag(&["--non-interactive"]).dest("nonInteractive"));
        let ns = ctx.parse(&op, args)?;
        self.non_interactive = ns.bool("nonInteractive");
        self.mode = Some(match ctx.cmd {
            "cmdline" => DisplayMode::Cmdline,
            "graphical" => DisplayMode::Graphical,
            "text" => DisplayMode::Text,
            other => return Err(KsError::bad(format!("Unknown command {other}"))),
        });
        if ctx.cmd == "cmdline" && self.non_interactive {
            return Err(KsError::bad(
                "Kickstart command cmdline does not support --non-interactive parameter",
            ));
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        let mut s = match self.mode {
            None => String::new(),
            Some(DisplayMode::Cmdline) => "cmdline\n".to_string(),
            Some(DisplayMode::Graphical) => "# Use graphical install\ngraphical\n".to_string(),
            Some(DisplayMode::Text) => "# Use text mode install\ntext\n".to_string(),
        };
        if self.non_interactive {
            s = s.trim_end().to_string();
            s.push_str(" --non-interactive\n");
        }
        s
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<DisplayModeCmd>::default()
}
