//! `firewall`: firewall configuration of the installed system (pykickstart `F28_Firewall`).

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Action, Arg, OptParser, Ty, Val, ValueError};

/// `firewall` state.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Firewall {
    /// `--enabled` / `--disabled`; `None` when the command was not used.
    pub enabled: Option<bool>,
    /// `--port`: `port:proto` entries (a bare port gets `:tcp`).
    pub ports: Vec<String>,
    /// `--trust`: trusted devices.
    pub trusts: Vec<String>,
    /// `--service` (and `--ftp`, `--http`, `--smtp`, `--ssh`): services to allow.
    pub services: Vec<String>,
    /// `--remove-service`: services to close.
    pub remove_services: Vec<String>,
    /// `--use-system-defaults`: leave the firewall alone.
    pub use_system_defaults: bool,
}

fn port_list(v: &str) -> Result<Val, ValueError> {
    Ok(Val::List(
        v.split(',')
            .map(|p| {
                let p = p.trim();
                if p.contains(':') {
                    p.to_string()
                } else {
                    format!("{p}:tcp")
                }
            })
            .collect(),
    ))
}

impl Command for Firewall {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let svc = |name: &'static str, c: &str| {
            Arg::opt(&[name])
                .dest("services")
                .action(Action::ExtendConst(vec![c.to_string()]))
        };
        let op = OptParser::new("firewall")
            .add(
                Arg::opt(&["--disable", "--disabled"])
                    .dest("enabled")
                    .action(Action::StoreFalse)
                    .default(Val::Bool(true)),
            )
            .add(Arg::flag(&["--enable", "--enabled"]).dest("enabled"))
            .add(
                Arg::opt(&["--port"])
                    .dest("ports")
                    .action(Action::Extend)
                    .ty(Ty::Custom("firewall_port_cb", port_list)),
            )
            .add(Arg::opt(&["--trust"]).dest("trusts").action(Action::Append))
            .add(
                Arg::opt(&["--service"])
                    .dest("services")
                    .action(Action::Extend)
                    .ty(Ty::CommaSplit),
            )
            .add(svc("--ftp", "ftp"))
            .add(svc("--http", "http"))
            .add(svc("--smtp", "smtp"))
            .add(svc("--ssh", "ssh"))
            .add(
                Arg::opt(&["--remove-service"])
                    .dest("remove_services")
                    .action(Action::Extend)
                    .ty(Ty::CommaSplit),
            )
            .add(Arg::flag(&["--use-system-defaults"]));
        let ns = ctx.parse(&op, args)?;
        self.enabled = Some(ns.opt_bool("enabled").unwrap_or(true));
        // Lists absent from the line keep earlier values (pykickstart `set_to_self`).
        for (dest, field) in [
            ("ports", &mut self.ports),
            ("trusts", &mut self.trusts),
            ("services", &mut self.services),
            ("remove_services", &mut self.remove_services),
        ] {
            if !ns.is_none(dest) {
                *field = ns.list(dest);
            }
        }
        self.use_system_defaults = ns.bool("use_system_defaults");
        Ok(Parsed::Command)
    }
    fn render(&self) -> String {
        if self.use_system_defaults {
            return "# Firewall configuration\nfirewall --use-system-defaults\n".to_string();
        }
        match self.enabled {
            None => String::new(),
            Some(false) => "# Firewall configuration\nfirewall --disabled\n".to_string(),
            Some(true) => {
                let mut extra = String::new();
                let mut filtered = Vec::new();
                for p in &self.ports {
                    match p.as_str() {
                        "ssh:tcp" => extra.push_str(" --ssh"),
                        "telnet:tcp" => extra.push_str(" --telnet"),
                        "smtp:tcp" => extra.push_str(" --smtp"),
                        "http:tcp" => extra.push_str(" --http"),
                        "ftp:tcp" => extra.push_str(" --ftp"),
                        _ => filtered.push(p.as_str()),
                    }
                }
                let mut s = format!("# Firewall configuration\nfirewall --enabled{extra}");
                if !filtered.is_empty() {
                    s.push_str(&format!(" --port={}", filtered.join(",")));
                }
                if !self.trusts.is_empty() {
                    s.push_str(&format!(" --trust={}", self.trusts.join(",")));
                }
                if !self.services.is_empty() {
                    s.push_str(&format!(" --service={}", self.services.join(",")));
                }
                if !self.remove_services.is_empty() {
                    s.push_str(&format!(
                        " --remove-service={}",
                        self.remove_services.join(",")
                    ));
                }
                s.push('\n');
                s
            }
        }
    }
    fn render_flat(&self) -> String {
        let Some(enabled) = self.enabled else {
            return String::new();
        };
        // pykickstart's form loses state when read back if: a disabled (or system-default)
        // firewall hides its lists, `ssh:tcp`-style ports come back as `--ssh` services, or
        // several `--trust` devices come back as one comma-joined device.
        let special = ["ssh:tcp", "telnet:tcp", "smtp:tcp", "http:tcp", "ftp:tcp"];
        let lists_empty = self.ports.is_empty()
            && self.trusts.is_empty()
            && self.services.is_empty()
            && self.remove_services.is_empty();
        let lossless = if self.use_system_defaults {
            enabled && lists_empty
        } else if enabled {
            !self.ports.iter().any(|p| special.contains(&p.as_str())) && self.trusts.len() <= 1
        } else {
            lists_empty
        };
        if lossless {
            return self.render();
        }
        // One line that sets every attribute.
        let mut s = format!(
            "# Firewall configuration\nfirewall {}",
            if enabled { "--enabled" } else { "--disabled" }
        );
        if !self.ports.is_empty() {
            s.push_str(&format!(" --port={}", self.ports.join(",")));
        }
        for t in &self.trusts {
            s.push_str(&format!(" --trust={t}"));
        }
        if !self.services.is_empty() {
            s.push_str(&format!(" --service={}", self.services.join(",")));
        }
        if !self.remove_services.is_empty() {
            s.push_str(&format!(
                " --remove-service={}",
                self.remove_services.join(",")
            ));
        }
        if self.use_system_defaults {
            s.push_str(" --use-system-defaults");
        }
        s.push('\n');
        s
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Firewall>::default()
}
