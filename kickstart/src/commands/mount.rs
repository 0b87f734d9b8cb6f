//! `mount`: assign a mount point to an existing block device (pykickstart `F45_Mount`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser, Ty, Val};

/// One `mount` line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MountData {
    /// The block device.
    pub device: String,
    /// Where to mount it (normalised), or `none`.
    pub mount_point: String,
    /// `--reformat` was given with a true value.
    pub reformat: bool,
    /// The new format from `--reformat=FORMAT` ("" = keep the existing one).
    pub format: String,
    /// `--mkfsoptions`.
    pub mkfs_opts: String,
    /// `--mountoptions`.
    pub mount_opts: String,
}

impl MountData {
    fn render(&self) -> String {
        let mut s = format!("mount {} {}", self.device, self.mount_point);
        if self.reformat {
            s.push_str(" --reformat");
            if !self.format.is_empty() {
                s.push('=');
                s.push_str(&self.format);
            }
        }
        if !self.mkfs_opts.is_empty() {
            s.push_str(&format!(" --mkfsoptions=\"{}\"", self.mkfs_opts));
        }
        if !self.mount_opts.is_empty() {
            s.push_str(&format!(" --mountoptions=\"{}\"", self.mount_opts));
        }
        s.push('\n');
        s
    }
}

/// State of the `mount` command: every line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Mount {
    /// The mount lines, in order.
    pub mount_points: Vec<MountData>,
}

fn parser() -> OptParser {
    let mut dev = Arg::pos("device", Nargs::One);
    dev.metavar = Some("<device>");
    let mut mnt = Arg::pos("mntpoint", Nargs::One).ty(Ty::Mountpoint);
    mnt.metavar = Some("<mntpoint>");
    OptParser::new("mount")
        .add(dev)
        .add(mnt)
        .add(
            Arg::opt(&["--reformat"])
                .nargs(Nargs::Optional)
                .konst(Val::Bool(true))
                .default(Val::Bool(false)),
        )
        .add(Arg::opt(&["--mkfsoptions"]).dest("mkfs_opts"))
        .add(Arg::opt(&["--mountoptions"]).dest("mount_opts"))
}

impl Command for Mount {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let (ns, extra) = ctx.parse_known(&parser(), args)?;
        if !extra.is_empty() {
            return Err(KsError::bad(format!(
                "Unexpected arguments to mount command: {}",
                super::iscsiname::py_list(&extra)
            )));
        }
        let mut md = MountData {
            device: ns.str("device").unwrap_or_default(),
            mount_point: ns.str("mntpoint").unwrap_or_default(),
            mkfs_opts: ns.str("mkfs_opts").unwrap_or_default(),
            mount_opts: ns.str("mount_opts").unwrap_or_default(),
            ..Default::default()
        };
        if md.mount_point.to_lowercase() != "none" && !md.mount_point.starts_with('/') {
            return Err(KsError::bad(format!(
                "Invalid mount point '{}' given",
                md.mount_point
            )));
        }
        let reformat = ns.get("reformat").clone();
        if reformat == Val::Bool(false) && !md.mkfs_opts.is_empty() {
            return Err(KsError::bad("'--mkfsoptions' requires --reformat"));
        }
        match reformat {
            Val::Bool(b) => md.reformat = b,
            Val::Str(f) if !f.is_empty() => {
                md.format = f;
                md.reformat = true;
            }
            _ => {}
        }
        self.mount_points.push(md);
        Ok(Parsed::Item(self.mount_points.len() - 1))
    }
    fn render(&self) -> String {
        let body: String = self.mount_points.iter().map(MountData::render).collect();
        if body.is_empty() {
            body
        } else {
            format!("# Mount points configuration\n{body}\n")
        }
    }
    fn render_item(&self, idx: usize) -> String {
        self.mount_points[idx].render()
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(Mount::default())
}
