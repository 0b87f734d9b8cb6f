//! `keyboard`: console keymap and X layouts (pykickstart `F18_Keyboard`), in the old form
//! (`keyboard us`) or the new one (`--vckeymap`, `--xlayouts`, `--switch`).

use super::lang::unexpected_args;
use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser, Ty};

/// `keyboard` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Keyboard {
    /// The old-style positional layout or keymap name; empty when not given.
    pub keyboard: String,
    /// `--vckeymap`: virtual console keymap.
    pub vc_keymap: String,
    /// `--xlayouts`: X layouts.
    pub x_layouts: Vec<String>,
    /// `--switch`: layout switching options.
    pub switch_options: Vec<String>,
}

fn quoted_list(l: &[String]) -> String {
    l.iter()
        .map(|x| format!("'{x}'"))
        .collect::<Vec<_>>()
        .join(",")
}

impl Keyboard {
    /// The new-format options as pykickstart writes them.
    fn args_str(&self) -> String {
        let mut s = String::new();
        if !self.vc_keymap.is_empty() {
            s.push_str(&format!(" --vckeymap={}", self.vc_keymap));
        }
        if !self.x_layouts.is_empty() {
            s.push_str(&format!(" --xlayouts={}", quoted_list(&self.x_layouts)));
        }
        if !self.switch_options.is_empty() {
            s.push_str(&format!(" --switch={}", quoted_list(&self.switch_options)));
        }
        s
    }
}

impl Command for Keyboard {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("keyboard")
            .add(Arg::pos("kbd", Nargs::Any))
            .add(Arg::opt(&["--vckeymap"]).dest("vc_keymap"))
            .add(
                Arg::opt(&["--xlayouts"])
                    .dest("x_layouts")
                    .ty(Ty::CommaSplit),
            )
            .add(
                Arg::opt(&["--switch"])
                    .dest("switch_options")
                    .ty(Ty::CommaSplit),
            );
        let (ns, extra) = ctx.parse_known(&op, args)?;
        self.vc_keymap = ns.str("vc_keymap").unwrap_or_default();
        ns.merge_list("x_layouts", &mut self.x_layouts);
        ns.merge_list("switch_options", &mut self.switch_options);
        let kbd = ns.list("kbd");
        if kbd.len() > 1 {
            return Err(KsError::bad(
                "A single argument is expected for the keyboard command",
            ));
        } else if !extra.is_empty() {
            return Err(unexpected_args("keyboard", &extra));
        } else if kbd.is_empty() && self.vc_keymap.is_empty() && self.x_layouts.is_empty() {
            return Err(KsError::bad(
                "One of --xlayouts, --vckeymap options with value(s) or argument is expected \
                 for the keyboard command",
            ));
        }
        if let Some(k) = kbd.into_iter().next() {
            self.keyboard = k;
        }
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.keyboard.is_empty() && self.x_layouts.is_empty() && self.vc_keymap.is_empty() {
            return String::new();
        }
        let mut s = "# Keyboard layouts\n".to_string();
        if self.vc_keymap.is_empty() && self.x_layouts.is_empty() {
            s.push_str(&format!("keyboard '{}'\n", self.keyboard));
            return s;
        }
        if !self.keyboard.is_empty() {
            s.push_str(&format!(
                "# old format: keyboard {}\n# new format:\n",
                self.keyboard
            ));
        }
        s.push_str("keyboard");
        s.push_str(&self.args_str());
        s.push('\n');
        s
    }
    fn render_flat(&self) -> String {
        // pykickstart writes the old positional layout of a mixed state as a comment, which
        // it cannot read back; one line with both forms gives the same state.
        let new_format = !self.vc_keymap.is_empty()
            || !self.x_layouts.is_empty()
            || !self.switch_options.is_empty();
        if self.keyboard.is_empty() || !new_format {
            return self.render();
        }
        format!(
            "# Keyboard layouts\nkeyboard '{}'{}\n",
            self.keyboard,
            self.args_str()
        )
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Keyboard>::default()
}
