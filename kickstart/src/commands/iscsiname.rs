//! `iscsiname`: the iSCSI initiator name (pykickstart `FC6_IscsiName`).

use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, Nargs, OptParser};

/// State of the `iscsiname` command.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IscsiName {
    /// The initiator IQN ("" when unset).
    pub iscsiname: String,
}

impl Command for IscsiName {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let mut iqn = Arg::pos("iqn", Nargs::One);
        iqn.metavar = Some("<iqn>");
        let op = OptParser::new("iscsiname").add(iqn);
        let (ns, extra) = ctx.parse_known(&op, args)?;
        if !extra.is_empty() {
            return Err(KsError::bad(format!(
                "Unexpected arguments to iscsiname command: {}",
                py_list(&extra)
            )));
        }
        self.iscsiname = ns.str("iqn").unwrap_or_default();
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.iscsiname.is_empty() {
            String::new()
        } else {
            format!("iscsiname {}\n", self.iscsiname)
        }
    }
    crate::command_common!();
}

/// Python's `repr()` of a list of strings.
pub(crate) fn py_list(items: &[String]) -> String {
    let v: Vec<String> = items.iter().map(|s| crate::options::py_repr(s)).collect();
    format!("[{}]", v.join(", "))
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::new(IscsiName::default())
}
