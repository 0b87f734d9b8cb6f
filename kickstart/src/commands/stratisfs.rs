//! `stratisfs`: creates a Stratis filesystem (pykickstart `F45_StratisFs`).

use super::storage_common::{add_size_args, push_flag, push_int, unexpected_args, useexisting_arg};
use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser, Ty};

/// One `stratisfs` line.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StratisFsData {
    /// Where it is mounted.
    pub mountpoint: String,
    /// `--name`: filesystem name.
    pub name: String,
    /// `--poolname`: the pool it lives in.
    pub poolname: String,
    /// `--size` in MiB.
    pub size: Option<i64>,
    /// `--grow`.
    pub grow: bool,
    /// `--maxsize` in MiB (0 = none).
    pub max_size_mb: i64,
    /// `--useexisting`.
    pub preexist: bool,
}

impl StratisFsData {
    /// pykickstart `str(StratisFsData)`.
    pub fn render(&self) -> String {
        let mut r = String::new();
        push_int(&mut r, "size", self.size.unwrap_or(0));
        push_flag(&mut r, "grow", self.grow);
        push_int(&mut r, "maxsize", self.max_size_mb);
        push_flag(&mut r, "useexisting", self.preexist);
        format!(
            "stratisfs {}{} --name={} --poolname={}\n",
            self.mountpoint, r, self.name, self.poolname
        )
    }
}

/// All `stratisfs` lines.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StratisFs {
    /// The filesystems, in order.
    pub fs_list: Vec<StratisFsData>,
}

fn parser() -> OptParser {
    let mut mnt = Arg::pos("mntpoint", Nargs::One).ty(Ty::Mountpoint);
    mnt.metavar = Some("<mntpoint>");
    let mut op = OptParser::new("stratisfs").add(mnt);
    add_size_args(&mut op);
    op.push(Arg::opt(&["--name"]).required());
    op.push(Arg::opt(&["--poolname"]).required());
    op.push(useexisting_arg());
    op
}

impl Command for StratisFs {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let (ns, extra) = ctx.parse_known(&parser(), args)?;
        if !extra.is_empty() {
            return Err(unexpected_args("stratisfs", &extra));
        }
        let fs = StratisFsData {
            mountpoint: ns.str("mntpoint").unwrap_or_default(),
            name: ns.str("name").unwrap_or_default(),
            poolname: ns.str("poolname").unwrap_or_default(),
            size: ns.int("size"),
            grow: ns.bool("grow"),
            max_size_mb: ns.int("maxSizeMB").unwrap_or(0),
            preexist: ns.bool("preexist"),
        };
        if fs.max_size_mb != 0 && !fs.grow {
            return Err(KsError::bad("--maxsize requires --grow"));
        }
        if self
            .fs_list
            .iter()
            .any(|o| o.poolname == fs.poolname && o.name == fs.name)
        {
            ctx.warn(format!(
                "A stratisfs with the name {} has already been defined in pool {}.",
                fs.name, fs.poolname
            ));
        }
        self.fs_list.push(fs);
        Ok(Parsed::Item(self.fs_list.len() - 1))
    }

    fn render(&self) -> String {
        self.fs_list.iter().map(StratisFsData::render).collect()
    }

    fn render_item(&self, idx: usize) -> String {
        self.fs_list[idx].render()
    }

    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<StratisFs>::default()
}
