//! `repo`: an additional package repository (pykickstart `F40_Repo` with `F30_RepoData`).
//! `$releasever` and `$basearch` are kept literally.

use super::{Command, LiveEffect, ParseCtx, Parsed};
use crate::error::KsError;
use crate::options::{Arg, OptParser, Ty};
use crate::KsVersion;

/// One `repo` line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RepoData {
    /// `--name`: the repo id.
    pub name: String,
    /// `--baseurl`.
    pub baseurl: Option<String>,
    /// `--mirrorlist`.
    pub mirrorlist: Option<String>,
    /// `--metalink`.
    pub metalink: Option<String>,
    /// `--cost`: lower wins.
    pub cost: Option<i64>,
    /// `--includepkgs`: only these packages (globs) come from this repo.
    pub includepkgs: Vec<String>,
    /// `--excludepkgs`: these packages (globs) never come from this repo.
    pub excludepkgs: Vec<String>,
    /// `--proxy`.
    pub proxy: Option<String>,
    /// `--noverifyssl`.
    pub noverifyssl: bool,
    /// `--install`: also configure the repo on the installed system.
    pub install: bool,
    /// `--sslcacert`.
    pub sslcacert: Option<String>,
    /// `--sslclientcert`.
    pub sslclientcert: Option<String>,
    /// `--sslclientkey`.
    pub sslclientkey: Option<String>,
    /// `--ignoregroups` (RHEL 8 syntax only).
    pub ignoregroups: Option<bool>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|v| !v.is_empty())
}

impl RepoData {
    fn render(&self) -> String {
        let mut a = String::new();
        if let Some(b) = nonempty(&self.baseurl) {
            a.push_str(&format!("--baseurl={b}"));
        } else if let Some(m) = nonempty(&self.mirrorlist) {
            a.push_str(&format!("--mirrorlist={m}"));
        }
        if let Some(c) = self.cost.filter(|c| *c != 0) {
            a.push_str(&format!(" --cost={c}"));
        }
        if !self.includepkgs.is_empty() {
            a.push_str(&format!(
                " --includepkgs=\"{}\"",
                self.includepkgs.join(",")
            ));
        }
        if !self.excludepkgs.is_empty() {
            a.push_str(&format!(
                " --excludepkgs=\"{}\"",
                self.excludepkgs.join(",")
            ));
        }
        if self.ignoregroups == Some(true) {
            a.push_str(" --ignoregroups=true");
        }
        if let Some(p) = nonempty(&self.proxy) {
            a.push_str(&format!(" --proxy=\"{p}\""));
        }
        if self.noverifyssl {
            a.push_str(" --noverifyssl");
        }
        if self.install {
            a.push_str(" --install");
        }
        if let Some(m) = nonempty(&self.metalink) {
            a.push_str(&format!(" --metalink={m}"));
        }
        for (v, o) in [
            (&self.sslcacert, "sslcacert"),
            (&self.sslclientcert, "sslclientcert"),
            (&self.sslclientkey, "sslclientkey"),
        ] {
            if let Some(v) = nonempty(v) {
                a.push_str(&format!(" --{o}=\"{v}\""));
            }
        }
        format!("repo --name=\"{}\" {a}\n", self.name)
    }
}

/// `repo` state: every line.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Repo {
    /// The repositories, in order.
    pub repos: Vec<RepoData>,
}

impl Command for Repo {
    fn parse(&mut self, ctx: &mut ParseCtx<'_>, args: &[String]) -> Result<Parsed, KsError> {
        let mut op = OptParser::new("repo")
            .add(Arg::opt(&["--name"]).required())
            .add(Arg::opt(&["--baseurl"]))
            .add(Arg::opt(&["--mirrorlist"]))
            .add(Arg::opt(&["--cost"]).ty(Ty::Int))
            .add(Arg::opt(&["--excludepkgs"]).ty(Ty::CommaSplit))
            .add(Arg::opt(&["--includepkgs"]).ty(Ty::CommaSplit));
        match ctx.version {
            KsVersion::Rhel8 => op.push(Arg::opt(&["--ignoregroups"]).ty(Ty::Bool)),
            // F33_Repo (RHEL 9) keeps it as a deprecated option.
            KsVersion::Rhel9 => op.push(Arg::opt(&["--ignoregroups"]).ty(Ty::Bool).deprecated()),
            _ => {}
        }
        let op = op
            .add(Arg::opt(&["--proxy"]))
            .add(Arg::flag(&["--noverifyssl"]))
            .add(Arg::flag(&["--install"]))
            .add(Arg::opt(&["--metalink"]))
            .add(Arg::opt(&["--sslcacert"]))
            .add(Arg::opt(&["--sslclientcert"]))
            .add(Arg::opt(&["--sslclientkey"]));
        let ns = ctx.parse(&op, args)?;
        let r = RepoData {
            name: ns.str("name").unwrap_or_default(),
            baseurl: ns.str("baseurl"),
            mirrorlist: ns.str("mirrorlist"),
            metalink: ns.str("metalink"),
            cost: ns.int("cost"),
            includepkgs: ns.list("includepkgs"),
            excludepkgs: ns.list("excludepkgs"),
            proxy: ns.str("proxy"),
            noverifyssl: ns.bool("noverifyssl"),
            install: ns.bool("install"),
            sslcacert: ns.str("sslcacert"),
            sslclientcert: ns.str("sslclientcert"),
            sslclientkey: ns.str("sslclientkey"),
            ignoregroups: ns.opt_bool("ignoregroups"),
        };
        let used: Vec<&str> = [
            (&r.mirrorlist, "--mirrorlist"),
            (&r.baseurl, "--baseurl"),
            (&r.metalink, "--metalink"),
        ]
        .iter()
        .filter(|(v, _)| nonempty(v).is_some())
        .map(|(_, o)| *o)
        .collect();
        if used.len() > 1 {
            return Err(KsError::bad(format!(
                "Only one of {} options may be specified for repo command.",
                used.join(", ")
            )));
        }
        if self.repos.iter().any(|x| x.name == r.name) {
            ctx.warn(format!(
                "A repo with the name {} has already been defined.",
                r.name
            ));
        }
        self.repos.push(r);
        Ok(Parsed::Item(self.repos.len() - 1))
    }
    fn render(&self) -> String {
        self.repos.iter().map(RepoData::render).collect()
    }
    fn render_item(&self, idx: usize) -> String {
        self.repos[idx].render()
    }
    fn live_effect(&self) -> LiveEffect {
        LiveEffect::Applied
    }
    crate::command_common!();
}

/// A fresh state.
pub fn new() -> Box<dyn Command> {
    Box::<Repo>::default()
}
