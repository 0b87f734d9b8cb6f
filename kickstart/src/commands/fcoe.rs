//! `fcoe`: attach FCoE storage through a network interface (pykickstart `F28_Fcoe`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser};

/// One `fcoe` line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FcoeData {
    /// `--nic`: the network device connected to the FCoE switch.
    pub nic: String,
    /// `--dcb`: enable Data Center Bridging awareness.
    pub dcb: bool,
    /// `--autovlan`: automatic VLAN discovery.
    pub autovlan: bool,
}

impl FcoeData {
    fn render(&self) -> String {
        let mut s = String::from("fcoe");
        if !self.nic.is_empty() {
            s.push_str(&format!(" --nic={}", self.nic));
        }
        if self.dcb {
            s.push_str(" --dcb");
        }
        if self.autovlan {
            s.push_str(" --autovlan");
        }
        s.push('\n');
        s
    }
}

/// State of the `fcoe` command: every line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Fcoe {
    /// The devices, in order.
    pub fcoe: Vec<FcoeData>,
}

impl Command for Fcoe {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let op = OptParser::new("fcoe")
            .add(Arg::opt(&["--nic"]).required())
            .add(Arg::flag(&["--dcb"]))
            .add(Arg::flag(&["--autovlan"]));
        let ns = ctx.parse(&op, args)?;
        let d = FcoeData {
            nic: ns.str("nic").unwrap_or_default(),
            dcb: ns.bool("dcb"),
            autovlan: ns.bool("autovlan"),
        };
        if self.fcoe.iter().any(|o| o.nic == d.nic) {
            ctx.warn(format!(
                "A FCOE device with the name {} has already been defined.",
                d.nic
            ));
        }
        self.fcoe.push(d);
        Ok(Parsed::Item(self.fcoe.len() - 1))
    }
    fn render(&self) -> String {
        self.fcoe.iter().map(FcoeData::render).collect()
    }
    fn render_item(&self, idx: usize) -> String {
        self.fcoe[idx].render()
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(Fcoe::default())
}
