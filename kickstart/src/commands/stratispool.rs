//! `stratispool`: creates a Stratis pool (pykickstart `F45_StratisPool`).

use super::storage_common::{push_flag, push_quoted, py_strip, useexisting_arg};
use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser};

/// One `stratispool` line.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StratisPoolData {
    /// The pool name.
    pub name: String,
    /// Block devices (`stratis.<id>`); empty with `--useexisting`.
    pub blockdevs: Vec<String>,
    /// `--useexisting`.
    pub preexist: bool,
    /// `--encrypted`.
    pub encrypted: bool,
    /// `--passphrase`.
    pub passphrase: String,
    /// `--overprovisioning`.
    pub overprovisioning: bool,
}

impl StratisPoolData {
    /// pykickstart `str(StratisPoolData)`.
    pub fn render(&self) -> String {
        let mut s = format!("stratispool {}", self.name);
        push_flag(&mut s, "useexisting", self.preexist);
        push_flag(&mut s, "encrypted", self.encrypted);
        push_quoted(&mut s, "passphrase", &self.passphrase);
        push_flag(&mut s, "overprovisioning", self.overprovisioning);
        if !self.preexist {
            s.push(' ');
            s.push_str(&self.blockdevs.join(" "));
        }
        format!("{}\n", py_strip(&s))
    }
}

/// All `stratispool` lines.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StratisPool {
    /// The pools, in order.
    pub pool_list: Vec<StratisPoolData>,
}

fn parser() -> OptParser {
    let mut op = OptParser::new("stratispool")
        .add(Arg::pos("name", Nargs::Any).required())
        .add(Arg::pos("blockdevs", Nargs::Any).required());
    op.push(useexisting_arg());
    op.push(Arg::flag(&["--encrypted"]));
    op.push(Arg::opt(&["--passphrase"]));
    op.push(Arg::flag(&["--overprovisioning"]));
    op
}

impl Command for StratisPool {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let (ns, extra) = ctx.parse_known(&parser(), args)?;
        let mut name = ns.list("name");
        let mut blockdevs = ns.list("blockdevs");
        if blockdevs.is_empty() {
            if !extra.is_empty() {
                blockdevs = extra;
            } else if !name.is_empty() {
                blockdevs = name.split_off(1);
            }
        }
        let preexist = ns.bool("preexist");
        let encrypted = ns.bool("encrypted");
        let passphrase = ns.str("passphrase").unwrap_or_default();
        if name.is_empty() {
            return Err(KsError::bad("stratispool must be given a pool name"));
        }
        if blockdevs.is_empty() && !preexist {
            return Err(KsError::bad(
                "stratispool must be given a list of blockdevs",
            ));
        } else if !blockdevs.is_empty() && preexist {
            return Err(KsError::bad(
                "Members may not be specified for preexisting stratispool",
            ));
        }
        if !passphrase.is_empty() && !encrypted {
            return Err(KsError::bad(
                "--passphrase can only be used with --encrypted",
            ));
        }
        let pool = StratisPoolData {
            name: name[0].clone(),
            blockdevs,
            preexist,
            encrypted,
            passphrase,
            overprovisioning: ns.bool("overprovisioning"),
        };
        if self.pool_list.iter().any(|o| o.name == pool.name) {
            ctx.warn(format!(
                "A stratispool with the name {} has already been defined.",
                pool.name
            ));
        }
        self.pool_list.push(pool);
        Ok(Parsed::Item(self.pool_list.len() - 1))
    }

    fn render(&self) -> String {
        self.pool_list.iter().map(StratisPoolData::render).collect()
    }

    fn render_item(&self, idx: usize) -> String {
        self.pool_list[idx].render()
    }

    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<StratisPool>::default()
}
