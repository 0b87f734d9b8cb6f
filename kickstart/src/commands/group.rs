//! `group`: create a group (pykickstart `F12_Group`).

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser, Ty};

/// One `group` line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GroupData {
    /// `--name`.
    pub name: String,
    /// `--gid`.
    pub gid: Option<i64>,
}

impl GroupData {
    fn render(&self) -> String {
        let mut s = "group".to_string();
        if !self.name.is_empty() {
            s.push_str(&format!(" --name={}", self.name));
        }
        if let Some(g) = self.gid.filter(|g| *g != 0) {
            s.push_str(&format!(" --gid={g}"));
        }
        s.push('\n');
        s
    }
}

/// `group` state: every line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Group {
    /// The groups, in order.
    pub groups: Vec<GroupData>,
}

impl Command for Group {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("group")
            .add(Arg::opt(&["--name"]).required())
            .add(Arg::opt(&["--gid"]).ty(Ty::Int));
        let ns = ctx.parse(&op, args)?;
        let g = GroupData {
            name: ns.str("name").unwrap_or_default(),
            gid: ns.int("gid"),
        };
        if self.groups.iter().any(|x| x.name == g.name) {
            ctx.warn(format!(
                "A group with the name {} has already been defined.",
                g.name
            ));
        }
        self.groups.push(g);
        Ok(Parsed::Item(self.groups.len() - 1))
    }
    fn render(&self) -> String {
        self.groups.iter().map(GroupData::render).collect()
    }
    fn render_item(&self, idx: usize) -> String {
        self.groups[idx].render()
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Group>::default()
}
