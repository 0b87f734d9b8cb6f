//! `systemctl --root` enable/disable, done natively: units are looked up in the root's unit
//! paths, their `[Install]` section (`WantedBy=`, `RequiredBy=`, `UpheldBy=`, `Alias=`, `Also=`,
//! `DefaultInstance=`) becomes symlinks under /etc/systemd/system, and disabling removes them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::fsutil;

/// Where systemd looks for system units, most important first (as root-absolute paths).
const UNIT_PATHS: &[&str] = &[
    "/etc/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

const CONFIG_DIR: &str = "/etc/systemd/system";

/// What a run of enable/disable did.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    /// Symlinks created (`link -> target`, root-absolute).
    pub created: Vec<String>,
    /// Symlinks removed.
    pub removed: Vec<String>,
    /// Units that could not be handled, and why.
    pub warnings: Vec<String>,
}

/// A unit file found in the root.
#[derive(Debug, Clone)]
struct UnitFile {
    /// Root-absolute path (the search directory + the file name).
    path: String,
    /// File name (`foo@.service` for instances of a template).
    file_name: String,
    install: Install,
}

#[derive(Debug, Clone, Default)]
struct Install {
    wanted_by: Vec<String>,
    required_by: Vec<String>,
    upheld_by: Vec<String>,
    alias: Vec<String>,
    also: Vec<String>,
    default_instance: Option<String>,
}

impl Install {
    fn is_empty(&self) -> bool {
        self.wanted_by.is_empty()
            && self.required_by.is_empty()
            && self.upheld_by.is_empty()
            && self.alias.is_empty()
            && self.also.is_empty()
    }
}

/// Parse the `[Install]` section of a unit file.
fn parse_install(text: &str) -> Install {
    let mut inst = Install::default();
    let mut in_install = false;
    let mut pending = String::new();
    for raw in text.lines() {
        // Continuation lines: a trailing backslash joins the next line with a space.
        if let Some(head) = raw.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        let mut line = std::mem::take(&mut pending);
        line.push_str(raw);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            in_install = line == "[Install]";
            continue;
        }
        if !in_install {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let list = match k.trim() {
            "WantedBy" => &mut inst.wanted_by,
            "RequiredBy" => &mut inst.required_by,
            "UpheldBy" => &mut inst.upheld_by,
            "Alias" => &mut inst.alias,
            "Also" => &mut inst.also,
            "DefaultInstance" => {
                inst.default_instance = (!v.is_empty()).then(|| v.to_string());
                continue;
            }
            _ => continue,
        };
        // An empty assignment resets the list, as in all systemd list settings.
        if v.is_empty() {
            list.clear();
        } else {
            list.extend(v.split_whitespace().map(str::to_string));
        }
    }
    inst
}

/// `foo@bar.service` -> (`foo`, Some(`bar`), `.service`); `foo@.service` -> instance `""`.
fn split_name(name: &str) -> (&str, Option<&str>, &str) {
    let dot = name.rfind('.').unwrap_or(name.len());
    let (stem, suffix) = name.split_at(dot);
    match stem.split_once('@') {
        Some((p, i)) => (p, Some(i), suffix),
        None => (stem, None, suffix),
    }
}

/// Expand the specifiers `[Install]` values may use, for the unit `name`.
fn expand(value: &str, name: &str) -> String {
    let (prefix, instance, suffix) = split_name(name);
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push_str(name),
            Some('N') => out.push_str(name.strip_suffix(suffix).unwrap_or(name)),
            Some('p') => out.push_str(prefix),
            Some('i') | Some('I') => out.push_str(instance.unwrap_or("")),
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Find `name` (or its template) in the root's unit paths.
fn find_unit(root: &Path, name: &str) -> Option<UnitFile> {
    let (prefix, instance, suffix) = split_name(name);
    let mut candidates = vec![name.to_string()];
    if let Some(i) = instance {
        if !i.is_empty() {
            candidates.push(format!("{prefix}@{suffix}"));
        }
    }
    for cand in candidates {
        for dir in UNIT_PATHS {
            let path = format!("{dir}/{cand}");
            let host = fsutil::in_root(root, &path, false);
            let Ok(meta) = std::fs::symlink_metadata(&host) else {
                continue;
            };
            // Links in /etc/systemd/system are enablement state (or masks), not unit files.
            if meta.file_type().is_symlink() && *dir == CONFIG_DIR {
                continue;
            }
            let text = std::fs::read_to_string(fsutil::in_root(root, &path, true)).ok()?;
            return Some(UnitFile {
                path,
                file_name: cand,
                install: parse_install(&text),
            });
        }
    }
    None
}

fn link(root: &Path, link_path: &str, target: &str, ch: &mut Changes) {
    let host = fsutil::in_root(root, link_path, false);
    if let Ok(existing) = std::fs::read_link(&host) {
        if existing == Path::new(target) {
            return;
        }
        ch.warnings.push(format!(
            "`{link_path}` exists and points to `{}`, not `{target}`: left alone",
            existing.display()
        ));
        return;
    }
    if host.exists() {
        ch.warnings.push(format!(
            "`{link_path}` exists and is not a symlink: left alone"
        ));
        return;
    }
    match fsutil::symlink_atomic(target, &host) {
        Ok(()) => ch.created.push(format!("{link_path} -> {target}")),
        Err(e) => ch
            .warnings
            .push(format!("cannot create `{link_path}`: {e}")),
    }
}

/// Whether `unit` is masked (a /etc/systemd/system link to /dev/null).
fn masked(root: &Path, unit: &str) -> bool {
    let host = fsutil::in_root(root, &format!("{CONFIG_DIR}/{unit}"), false);
    std::fs::read_link(host).is_ok_and(|t| t == Path::new("/dev/null"))
}

/// Enable units as `systemctl --root R enable UNIT...` does.
pub fn enable(root: &Path, units: &[String], ch: &mut Changes) {
    let mut seen = BTreeSet::new();
    for u in units {
        enable_one(root, &unit_name(u), ch, &mut seen, true);
    }
}

/// A bare name means a service.
pub fn unit_name(u: &str) -> String {
    const SUFFIXES: &[&str] = &[
        ".service",
        ".socket",
        ".target",
        ".timer",
        ".path",
        ".mount",
        ".automount",
        ".swap",
        ".slice",
        ".scope",
        ".device",
    ];
    if SUFFIXES.iter().any(|s| u.ends_with(s)) {
        u.to_string()
    } else {
        format!("{u}.service")
    }
}

fn enable_one(root: &Path, name: &str, ch: &mut Changes, seen: &mut BTreeSet<String>, top: bool) {
    if !seen.insert(name.to_string()) {
        return;
    }
    let Some(unit) = find_unit(root, name) else {
        ch.warnings.push(format!(
            "unit `{name}` does not exist in the root: not enabled"
        ));
        return;
    };
    if masked(root, name) {
        ch.warnings
            .push(format!("unit `{name}` is masked: not enabled"));
        return;
    }
    let inst = &unit.install;
    if inst.is_empty() && top {
        ch.warnings.push(format!(
            "unit `{name}` has no [Install] section (static or generated): nothing to enable"
        ));
    }
    // Templates enable their DefaultInstance; an instance name enables itself.
    let (prefix, instance, suffix) = split_name(name);
    let effective = match instance {
        Some("") => inst
            .default_instance
            .as_ref()
            .map(|d| format!("{prefix}@{d}{suffix}")),
        _ => Some(name.to_string()),
    };
    if let Some(eff) = &effective {
        for (list, kind) in [
            (&inst.wanted_by, "wants"),
            (&inst.required_by, "requires"),
            (&inst.upheld_by, "upholds"),
        ] {
            for t in list {
                let t = expand(t, eff);
                link(
                    root,
                    &format!("{CONFIG_DIR}/{t}.{kind}/{eff}"),
                    &unit.path,
                    ch,
                );
            }
        }
        for a in &inst.alias {
            let a = expand(a, eff);
            if a != *eff {
                link(root, &format!("{CONFIG_DIR}/{a}"), &unit.path, ch);
            }
        }
    } else if top && (!inst.wanted_by.is_empty() || !inst.required_by.is_empty()) {
        ch.warnings.push(format!(
            "template `{name}` has no DefaultInstance: name an instance to enable it"
        ));
    }
    for also in inst.also.clone() {
        let also = expand(&also, effective.as_deref().unwrap_or(name));
        enable_one(root, &also, ch, seen, false);
    }
}

/// Disable units as `systemctl --root R disable UNIT...` does.
pub fn disable(root: &Path, units: &[String], ch: &mut Changes) {
    // Names whose links go, and file names they may point to.
    let mut names = BTreeSet::new();
    let mut templates = BTreeSet::new();
    let mut files = BTreeSet::new();
    let mut todo: Vec<(String, bool)> = units.iter().map(|u| (unit_name(u), true)).collect();
    let mut seen = BTreeSet::new();
    while let Some((name, top)) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(unit) = find_unit(root, &name) else {
            if top {
                ch.warnings.push(format!(
                    "unit `{name}` does not exist in the root: not disabled"
                ));
            }
            continue;
        };
        let (prefix, instance, suffix) = split_name(&name);
        if instance == Some("") {
            templates.insert((format!("{prefix}@"), suffix.to_string()));
        }
        names.insert(name.clone());
        files.insert(unit.file_name.clone());
        for a in &unit.install.alias {
            names.insert(expand(a, &name));
        }
        for a in &unit.install.also {
            todo.push((expand(a, &name), false));
        }
    }
    let matches = |n: &str| {
        names.contains(n)
            || templates
                .iter()
                .any(|(p, s)| n.starts_with(p.as_str()) && n.ends_with(s.as_str()))
    };
    let dir = fsutil::in_root(root, CONFIG_DIR, true);
    let mut links = Vec::new();
    collect_links(&dir, &mut links);
    links.sort();
    for l in links {
        let Ok(target) = std::fs::read_link(&l) else {
            continue;
        };
        let lname = l.file_name().map(|n| n.to_string_lossy().into_owned());
        let tname = target.file_name().map(|n| n.to_string_lossy().into_owned());
        let (Some(lname), Some(tname)) = (lname, tname) else {
            continue;
        };
        // A mask (-> /dev/null) is not enablement; default.target -> X is not X's alias.
        if matches(&lname) && (files.contains(&tname) || names.contains(&tname)) {
            let shown = format!(
                "{CONFIG_DIR}/{}",
                l.strip_prefix(&dir).unwrap_or(&l).display()
            );
            match std::fs::remove_file(&l) {
                Ok(()) => ch.removed.push(shown),
                Err(e) => ch.warnings.push(format!("cannot remove `{shown}`: {e}")),
            }
        }
    }
}

fn collect_links(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_symlink() {
            out.push(e.path());
        } else if ft.is_dir() {
            collect_links(&e.path(), out);
        }
    }
}

/// `systemctl set-default TARGET`: /etc/systemd/system/default.target -> the target's file.
pub fn set_default(root: &Path, target: &str, ch: &mut Changes) {
    let Some(unit) = find_unit(root, target) else {
        ch.warnings.push(format!(
            "`{target}` does not exist in the root: default target unchanged"
        ));
        return;
    };
    let link_path = format!("{CONFIG_DIR}/default.target");
    let host = fsutil::in_root(root, &link_path, false);
    if std::fs::read_link(&host).is_ok_and(|t| t == Path::new(&unit.path)) {
        return;
    }
    match fsutil::symlink_atomic(&unit.path, &host) {
        Ok(()) => ch.created.push(format!("{link_path} -> {}", unit.path)),
        Err(e) => ch
            .warnings
            .push(format!("cannot create `{link_path}`: {e}")),
    }
}

/// Whether a unit file exists in the root.
pub fn exists(root: &Path, name: &str) -> bool {
    find_unit(root, &unit_name(name)).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_section() {
        let i = parse_install(
            "[Unit]\nWantedBy=no.target\n[Install]\nWantedBy=a.target \\\n b.target\nAlias=x.service\nAlso=y.socket\nRequiredBy=c.target\nRequiredBy=\nDefaultInstance=tty1\n",
        );
        assert_eq!(i.wanted_by, ["a.target", "b.target"]);
        assert_eq!(i.alias, ["x.service"]);
        assert_eq!(i.also, ["y.socket"]);
        assert!(i.required_by.is_empty());
        assert_eq!(i.default_instance.as_deref(), Some("tty1"));
    }

    #[test]
    fn names_and_specifiers() {
        assert_eq!(
            split_name("getty@tty1.service"),
            ("getty", Some("tty1"), ".service")
        );
        assert_eq!(
            split_name("getty@.service"),
            ("getty", Some(""), ".service")
        );
        assert_eq!(split_name("sshd.socket"), ("sshd", None, ".socket"));
        assert_eq!(expand("%p-%i.%n", "a@b.service"), "a-b.a@b.service");
        assert_eq!(unit_name("sshd"), "sshd.service");
        assert_eq!(unit_name("remote-fs.target"), "remote-fs.target");
    }
}
