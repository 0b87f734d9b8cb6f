//! `zfcp`: a Fibre Channel device on IBM Z (pykickstart `F37_ZFCP`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser, Val};
use crate::KsVersion;

/// One `zfcp` line.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ZfcpData {
    /// `--devnum`: the FCP adapter device bus ID.
    pub devnum: String,
    /// `--wwpn`: the World Wide Port Name ("" with automatic LUN scanning).
    pub wwpn: String,
    /// `--fcplun`: the LUN ("" with automatic LUN scanning).
    pub fcplun: String,
}

impl ZfcpData {
    fn render(&self) -> String {
        let mut s = String::from("zfcp");
        for (k, v) in [
            ("devnum", &self.devnum),
            ("wwpn", &self.wwpn),
            ("fcplun", &self.fcplun),
        ] {
            if !v.is_empty() {
                s.push_str(&format!(" --{k}={v}"));
            }
        }
        s.push('\n');
        s
    }
}

/// State of the `zfcp` command: every line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Zfcp {
    /// The devices, in order.
    pub zfcp: Vec<ZfcpData>,
}

impl Command for Zfcp {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let empty = || Val::Str(String::new());
        // F14_ZFCP (RHEL 8) requires all three; F37 allows --devnum alone.
        let rhel8 = ctx.version == KsVersion::Rhel8;
        let wwpn = Arg::opt(&["--wwpn"]);
        let fcplun = Arg::opt(&["--fcplun"]);
        let op = OptParser::new("zfcp")
            .add(Arg::opt(&["--devnum"]).required())
            .add(if rhel8 {
                wwpn.required()
            } else {
                wwpn.default(empty())
            })
            .add(if rhel8 {
                fcplun.required()
            } else {
                fcplun.default(empty())
            });
        let ns = ctx.parse(&op, args)?;
        let d = ZfcpData {
            devnum: ns.str("devnum").unwrap_or_default(),
            wwpn: ns.str("wwpn").unwrap_or_default(),
            fcplun: ns.str("fcplun").unwrap_or_default(),
        };
        if self.zfcp.contains(&d) {
            ctx.warn("A zfcp with this information has already been defined.");
        }
        let (dn, w, f) = (
            !d.devnum.is_empty(),
            !d.wwpn.is_empty(),
            !d.fcplun.is_empty(),
        );
        // Only --devnum, or --devnum with both --wwpn and --fcplun.
        let ok = dn && (w == f);
        if !ok && !rhel8 {
            return Err(KsError::bad(
                "Only --devnum or --devnum with --wwpn and --fcplun are allowed.",
            ));
        }
        self.zfcp.push(d);
        Ok(Parsed::Item(self.zfcp.len() - 1))
    }
    fn render(&self) -> String {
        self.zfcp.iter().map(ZfcpData::render).collect()
    }
    fn render_item(&self, idx: usize) -> String {
        self.zfcp[idx].render()
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(Zfcp::default())
}
