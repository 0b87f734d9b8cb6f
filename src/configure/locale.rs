//! `lang`, `keyboard`, `timezone`: the files systemd's localed/timedated (and
//! `systemd-firstboot --root`) write.

use std::path::Path;

use crate::fsutil::{self, NewFile};

/// systemd's env-file value quoting: bare when only safe characters, else double-quoted.
pub fn env_value(v: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.,:/@+%".contains(c);
    if !v.is_empty() && v.chars().all(safe) {
        v.to_string()
    } else {
        let mut s = String::from("\"");
        for c in v.chars() {
            if matches!(c, '"' | '\\' | '`' | '$') {
                s.push('\\');
            }
            s.push(c);
        }
        s.push('"');
        s
    }
}

/// Replace or add `KEY=value` lines of an env-style file, keeping every other line.
pub fn update_env_file(old: Option<&str>, set: &[(&str, &str)]) -> String {
    let mut out = Vec::new();
    let mut done = vec![false; set.len()];
    for line in old.unwrap_or("").lines() {
        let key = line.split_once('=').map(|(k, _)| k.trim());
        match set.iter().position(|(k, _)| Some(*k) == key) {
            Some(i) if !done[i] => {
                out.push(format!("{}={}", set[i].0, env_value(set[i].1)));
                done[i] = true;
            }
            Some(_) => {}
            None => out.push(line.to_string()),
        }
    }
    for (i, (k, v)) in set.iter().enumerate() {
        if !done[i] {
            out.push(format!("{k}={}", env_value(v)));
        }
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// /etc/locale.conf for `lang` (localectl set-locale: LANG only, other keys dropped).
pub fn locale_conf(lang: &str) -> String {
    format!("LANG={}\n", env_value(lang))
}

/// An X layout as Anaconda writes it: `cz (qwerty)` -> (`cz`, `qwerty`).
pub fn split_layout(l: &str) -> (String, String) {
    match l.split_once('(') {
        Some((lay, var)) => (
            lay.trim().to_string(),
            var.trim().trim_end_matches(')').trim().to_string(),
        ),
        None => (l.trim().to_string(), String::new()),
    }
}

/// /etc/X11/xorg.conf.d/00-keyboard.conf as systemd-localed writes it.
pub fn x11_keyboard_conf(layouts: &[String], options: &[String]) -> String {
    let parts: Vec<(String, String)> = layouts.iter().map(|l| split_layout(l)).collect();
    let lay = parts
        .iter()
        .map(|p| p.0.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let var = parts
        .iter()
        .map(|p| p.1.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let mut s = String::from(
        "# Written by systemd-localed(8), read by systemd-localed and Xorg. It's\n\
         # probably wise not to edit this file manually. Use localectl(1) to\n\
         # instruct systemd-localed to update it.\n\
         Section \"InputClass\"\n        Identifier \"system-keyboard\"\n        MatchIsKeyboard \"on\"\n",
    );
    if !lay.is_empty() {
        s.push_str(&format!("        Option \"XkbLayout\" \"{lay}\"\n"));
    }
    if parts.iter().any(|p| !p.1.is_empty()) {
        s.push_str(&format!("        Option \"XkbVariant\" \"{var}\"\n"));
    }
    if !options.is_empty() {
        s.push_str(&format!(
            "        Option \"XkbOptions\" \"{}\"\n",
            options.join(",")
        ));
    }
    s.push_str("EndSection\n");
    s
}

/// A time zone with no zoneinfo file in the root (or a name that climbs out of zoneinfo).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no zone file `{path}` in the root")]
pub struct NoZoneFile {
    /// The root-absolute path looked for.
    pub path: String,
}

/// Where the zone's file is in the root, if it exists there.
pub fn zone_file(root: &Path, zone: &str) -> Result<String, NoZoneFile> {
    let rel = format!("/usr/share/zoneinfo/{zone}");
    // Zone names are relative paths below zoneinfo: no climbing out of it.
    if zone.is_empty()
        || zone.starts_with('/')
        || zone
            .split('/')
            .any(|c| c == ".." || c == "." || c.is_empty())
    {
        return Err(NoZoneFile { path: rel });
    }
    let host = fsutil::in_root(root, &rel, true);
    if host.is_file() {
        Ok(rel)
    } else {
        Err(NoZoneFile { path: rel })
    }
}

/// /etc/adjtime as Anaconda writes it (hardware clock in UTC or local time).
pub fn adjtime(utc: bool) -> String {
    format!("0.0 0 0.0\n0\n{}\n", if utc { "UTC" } else { "LOCAL" })
}

/// Write a small root-owned 0644 file.
pub fn write_etc(root: &Path, path: &str, text: &str) -> std::io::Result<std::path::PathBuf> {
    let host = fsutil::in_root(root, path, false);
    fsutil::write_atomic(&host, text.as_bytes(), NewFile::root(0o644))?;
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_quoting() {
        assert_eq!(env_value("en_US.UTF-8"), "en_US.UTF-8");
        assert_eq!(env_value("a b"), "\"a b\"");
        assert_eq!(env_value("x$y"), "\"x\\$y\"");
    }

    #[test]
    fn env_update_keeps_other_lines() {
        assert_eq!(
            update_env_file(Some("FONT=eurlatgr\nKEYMAP=us\n"), &[("KEYMAP", "cz")]),
            "FONT=eurlatgr\nKEYMAP=cz\n"
        );
        assert_eq!(update_env_file(None, &[("KEYMAP", "de")]), "KEYMAP=de\n");
    }

    #[test]
    fn x11_conf() {
        let c = x11_keyboard_conf(
            &["us".into(), "cz (qwerty)".into()],
            &["grp:alt_shift_toggle".into()],
        );
        assert!(c.contains("Option \"XkbLayout\" \"us,cz\"\n"));
        assert!(c.contains("Option \"XkbVariant\" \",qwerty\"\n"));
        assert!(c.contains("Option \"XkbOptions\" \"grp:alt_shift_toggle\"\n"));
        let c = x11_keyboard_conf(&["de".into()], &[]);
        assert!(!c.contains("XkbVariant") && !c.contains("XkbOptions"));
    }

    #[test]
    fn zone_names_stay_below_zoneinfo() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("usr/share/zoneinfo/Europe")).unwrap();
        std::fs::write(t.path().join("usr/share/zoneinfo/Europe/Prague"), b"TZif").unwrap();
        assert_eq!(
            zone_file(t.path(), "Europe/Prague").unwrap(),
            "/usr/share/zoneinfo/Europe/Prague"
        );
        assert!(zone_file(t.path(), "Europe/Nowhere").is_err());
        assert!(zone_file(t.path(), "../../../etc/passwd").is_err());
        assert!(zone_file(t.path(), "Europe").is_err());
    }
}
