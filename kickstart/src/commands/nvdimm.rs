//! `nvdimm`: set up NVDIMM namespaces (pykickstart `F28_Nvdimm`, a real command in the RHEL 8
//! and 9 syntaxes only, see [`super::versions`]).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser, Ty, Val};

/// One `nvdimm` line.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct NvdimmData {
    /// `reconfigure` or `use`.
    pub action: String,
    /// `--namespace`.
    pub namespace: String,
    /// `--mode` (only `sector`).
    pub mode: Option<String>,
    /// `--sectorsize`.
    pub sectorsize: Option<i64>,
    /// `--blockdevs`.
    pub blockdevs: Vec<String>,
}

impl NvdimmData {
    fn render(&self) -> String {
        let mut s = format!("nvdimm {}", self.action);
        if self.action == "reconfigure" {
            if !self.namespace.is_empty() {
                s.push_str(&format!(" --namespace={}", self.namespace));
            }
            if self.mode.as_deref() == Some("sector") {
                s.push_str(" --mode=sector");
                if let Some(n) = self.sectorsize.filter(|&n| n != 0) {
                    s.push_str(&format!(" --sectorsize={n}"));
                }
            }
        } else if self.action == "use" {
            if !self.namespace.is_empty() {
                s.push_str(&format!(" --namespace={}", self.namespace));
            }
            if !self.blockdevs.is_empty() {
                s.push_str(&format!(" --blockdevs={}", self.blockdevs.join(",")));
            }
        }
        format!("{}\n", s.trim())
    }
    /// pykickstart's `__eq__`: the same action on the same devices.
    fn same_target(&self, o: &NvdimmData) -> bool {
        self.action == o.action && self.namespace == o.namespace && self.blockdevs == o.blockdevs
    }
}

/// `nvdimm` state: every line, in order.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Nvdimm {
    /// The actions.
    pub actions: Vec<NvdimmData>,
}

impl Command for Nvdimm {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("nvdimm")
            .add(
                Arg::pos("action", Nargs::One)
                    .choices(&["reconfigure", "use"])
                    .default(Val::Str("reconfigure".into())),
            )
            .add(Arg::opt(&["--namespace"]))
            .add(Arg::opt(&["--blockdevs"]).ty(Ty::CommaSplit))
            .add(
                Arg::opt(&["--mode"])
                    .choices(&["sector"])
                    .default(Val::Str("sector".into())),
            )
            .add(Arg::opt(&["--sectorsize"]).ty(Ty::Int));
        let (ns, extra) = ctx.parse_known(&op, args)?;
        if !extra.is_empty() {
            let list: Vec<String> = extra.iter().map(|e| crate::options::py_repr(e)).collect();
            return Err(KsError::bad(format!(
                "Unexpected arguments to nvdimm command: [{}]",
                list.join(", ")
            )));
        }
        let d = NvdimmData {
            action: ns.list("action").first().cloned().unwrap_or_default(),
            namespace: ns.str("namespace").unwrap_or_default(),
            mode: ns.str("mode"),
            sectorsize: ns.int("sectorsize"),
            blockdevs: ns.list("blockdevs"),
        };
        if !d.namespace.is_empty() && !d.blockdevs.is_empty() {
            return Err(KsError::bad(
                "Only one of --namespace and --blockdevs device specifications can be used",
            ));
        }
        if self.actions.iter().any(|a| a.same_target(&d)) {
            if !d.namespace.is_empty() {
                ctx.warn(format!(
                    "An action {} on namespace {} has already been defined.",
                    d.action, d.namespace
                ));
            }
            if !d.blockdevs.is_empty() {
                let list: Vec<String> = d
                    .blockdevs
                    .iter()
                    .map(|e| crate::options::py_repr(e))
                    .collect();
                ctx.warn(format!(
                    "An action {} on devices [{}] has already been defined.",
                    d.action,
                    list.join(", ")
                ));
            }
        }
        if d.action == "reconfigure" {
            if d.namespace.is_empty() {
                return Err(KsError::bad(
                    "Action reconfigure requires --namespace argument to be set",
                ));
            }
            if d.mode.as_deref() == Some("sector") && d.sectorsize.unwrap_or(0) == 0 {
                return Err(KsError::bad(
                    "Action reconfigure with mode sector requires --sectorsize argument to be set",
                ));
            }
        } else if d.namespace.is_empty() && d.blockdevs.is_empty() {
            return Err(KsError::bad(
                "Action use requires --namespace or --blockdevs argument to be set",
            ));
        }
        self.actions.push(d);
        Ok(Parsed::Item(self.actions.len() - 1))
    }
    fn render(&self) -> String {
        if self.actions.is_empty() {
            return String::new();
        }
        let body: String = self.actions.iter().map(NvdimmData::render).collect();
        format!("# NVDIMM devices setup\n{body}\n")
    }
    fn render_item(&self, idx: usize) -> String {
        self.actions[idx].render()
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Nvdimm>::default()
}
