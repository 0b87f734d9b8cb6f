//! `realm`: join an Active Directory / IPA realm (pykickstart `F19_Realm`). Only `realm join`
//! is supported; its options are checked with getopt rules, as pykickstart does.

use super::authselect::rest_of_line;
use super::{Command, ParseCtx, Parsed};
use crate::error::KsError;
use crate::shlex;

/// `realm` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Realm {
    /// The realm to join.
    pub join_realm: Option<String>,
    /// All arguments of `realm join`, in order (options and the realm).
    pub join_args: Vec<String>,
    /// The discovery options (`--client-software=...` and the like) among them.
    pub discover_options: Vec<String>,
}

/// Long options `realm join` accepts, and whether each takes a value.
const LONG_OPTS: &[(&str, bool)] = &[
    ("client-software", true),
    ("server-software", true),
    ("membership-software", true),
    ("one-time-password", true),
    ("no-password", false),
    ("computer-ou", true),
];

/// Options found by [`getopt`] (`--name`, value) and the arguments left after them.
type GetoptResult = (Vec<(String, String)>, Vec<String>);

/// Python `getopt.getopt(args, "", LONG_OPTS)`: (options, remaining).
fn getopt(args: &[String]) -> Result<GetoptResult, String> {
    let mut opts = Vec::new();
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') && args[i] != "-" {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, val) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let exact = LONG_OPTS.iter().find(|(o, _)| *o == name);
            let (opt, has_arg) = match exact {
                Some(&(o, h)) => (o, h),
                None => {
                    let m: Vec<_> = LONG_OPTS
                        .iter()
                        .filter(|(o, _)| o.starts_with(name))
                        .collect();
                    match m.len() {
                        0 => return Err(format!("option --{name} not recognized")),
                        1 => (m[0].0, m[0].1),
                        _ => return Err(format!("option --{name} not a unique prefix")),
                    }
                }
            };
            let value = if has_arg {
                match val {
                    Some(v) => v,
                    None => {
                        i += 1;
                        match args.get(i) {
                            Some(v) => v.clone(),
                            None => return Err(format!("option --{opt} requires argument")),
                        }
                    }
                }
            } else {
                if val.is_some() {
                    return Err(format!("option --{opt} must not have an argument"));
                }
                String::new()
            };
            opts.push((format!("--{opt}"), value));
        } else {
            let c = a.chars().nth(1).unwrap_or('-');
            return Err(format!("option -{c} not recognized"));
        }
        i += 1;
    }
    Ok((opts, args[i..].to_vec()))
}

impl Command for Realm {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, _args: &[String]) -> Result<Parsed, KsError> {
        if self.join_realm.is_some() {
            return Err(KsError::bad(
                "The realm command 'join' should only be specified once",
            ));
        }
        let rest = rest_of_line(ctx);
        let mut args = shlex::split(&rest, false).map_err(|e| KsError::bad(e.to_string()))?;
        if args.is_empty() {
            return Err(KsError::bad("Missing realm command arguments"));
        }
        let command = args.remove(0);
        if command != "join" {
            return Err(KsError::bad(format!(
                "Unsupported realm '{command}' command"
            )));
        }
        let (opts, remaining) =
            getopt(&args).map_err(|e| KsError::bad(format!("Invalid realm arguments: {e}")))?;
        if remaining.len() != 1 {
            return Err(KsError::bad("Specify only one realm to join"));
        }
        self.join_realm = Some(remaining[0].clone());
        self.join_args = args;
        self.discover_options = opts
            .into_iter()
            .filter(|(o, _)| {
                matches!(
                    o.as_str(),
                    "--client-software" | "--server-software" | "--membership-software"
                )
            })
            .map(|(o, a)| format!("{o}={a}"))
            .collect();
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.join_args.is_empty() {
            return String::new();
        }
        let args: Vec<String> = self.join_args.iter().map(|a| shlex::quote(a)).collect();
        format!(
            "# Realm or domain membership\nrealm join {}\n",
            args.join(" ")
        )
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Realm>::default()
}
