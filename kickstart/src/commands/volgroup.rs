//! `volgroup`: creates an LVM volume group (pykickstart `F21_VolGroup`, data
//! `F21_VolGroupData`).

use super::storage_common::{noformat_arg, push_flag, push_int, py_strip, useexisting_arg};
use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser, Ty, Val};

/// One `volgroup` line.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct VolGroupData {
    /// The volume group name.
    pub vgname: String,
    /// Physical volumes (`pv.<id>`); empty with `--useexisting`.
    pub physvols: Vec<String>,
    /// `--noformat` not given.
    pub format: bool,
    /// `--useexisting` (or `--noformat`): use an existing volume group.
    pub preexist: bool,
    /// `--pesize`: physical extent size in KiB (0 = default).
    pub pesize: i64,
    /// `--reserved-space` in MiB.
    pub reserved_space: Option<i64>,
    /// `--reserved-percent`.
    pub reserved_percent: Option<i64>,
}

impl VolGroupData {
    /// pykickstart `str(VolGroupData)`.
    pub fn render(&self) -> String {
        let mut s = format!("volgroup {}", self.vgname);
        push_flag(&mut s, "noformat", !self.format);
        push_int(&mut s, "pesize", self.pesize);
        push_flag(&mut s, "useexisting", self.preexist);
        push_int(&mut s, "reserved-space", self.reserved_space.unwrap_or(0));
        push_int(
            &mut s,
            "reserved-percent",
            self.reserved_percent.unwrap_or(0),
        );
        if !self.preexist {
            s.push(' ');
            s.push_str(&self.physvols.join(" "));
        }
        format!("{}\n", py_strip(&s))
    }
}

/// All `volgroup` lines.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VolGroup {
    /// The volume groups, in order.
    pub vg_list: Vec<VolGroupData>,
}

fn parser() -> OptParser {
    let mut op = OptParser::new("volgroup")
        .add(Arg::pos("name", Nargs::Any).required())
        .add(Arg::pos("partitions", Nargs::Any).required());
    op.push(noformat_arg());
    op.push(useexisting_arg());
    op.push(
        Arg::opt(&["--reserved-space"])
            .dest("reserved_space")
            .ty(Ty::Int),
    );
    op.push(
        Arg::opt(&["--reserved-percent"])
            .dest("reserved_percent")
            .ty(Ty::Int),
    );
    op.push(Arg::opt(&["--pesize"]).ty(Ty::Int).default(Val::Int(0)));
    op
}

impl Command for VolGroup {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let (ns, extra) = ctx.parse_known(&parser(), args)?;
        let mut name = ns.list("name");
        let mut partitions = ns.list("partitions");
        // Variable-length positionals: anything argparse left over is the member list.
        if partitions.is_empty() {
            if !extra.is_empty() {
                partitions = extra;
            } else if !name.is_empty() {
                partitions = name.split_off(1);
            }
        }
        let format = ns.opt_bool("format").unwrap_or(true);
        let preexist = ns.bool("preexist") || !format;
        if name.is_empty() {
            return Err(KsError::bad("volgroup must be given a VG name"));
        }
        if partitions.is_empty() && !preexist {
            return Err(KsError::bad("volgroup must be given a list of partitions"));
        } else if !partitions.is_empty() && preexist {
            return Err(KsError::bad(
                "Members may not be specified for preexisting volgroup",
            ));
        }
        let vg = VolGroupData {
            vgname: name[0].clone(),
            physvols: partitions,
            format,
            preexist,
            pesize: ns.int("pesize").unwrap_or(0),
            reserved_space: ns.int("reserved_space"),
            reserved_percent: ns.int("reserved_percent"),
        };
        if self.vg_list.iter().any(|o| o.vgname == vg.vgname) {
            ctx.warn(format!(
                "A volgroup with the name {} has already been defined.",
                vg.vgname
            ));
        }
        if vg.reserved_space.is_some_and(|r| r < 0) {
            return Err(KsError::bad(
                "Volume group reserved space must be a positive integer.",
            ));
        }
        if vg.reserved_percent.is_some_and(|p| !(1..100).contains(&p)) {
            return Err(KsError::bad(
                "Volume group reserved space percentage must be between 1 and 99.",
            ));
        }
        self.vg_list.push(vg);
        Ok(Parsed::Item(self.vg_list.len() - 1))
    }

    fn render(&self) -> String {
        self.vg_list.iter().map(VolGroupData::render).collect()
    }

    fn render_item(&self, idx: usize) -> String {
        self.vg_list[idx].render()
    }

    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<VolGroup>::default()
}
