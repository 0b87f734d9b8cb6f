//! Users and groups written the way `useradd`/`groupadd`/`chpasswd` would (Anaconda runs those
//! tools): /etc/passwd, /etc/shadow, /etc/group and /etc/gshadow edited in place (order kept, new
//! entries appended, files replaced atomically), ids allocated from the root's /etc/login.defs
//! ranges, homes populated from /etc/skel with the new owner.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::IoError;
use crate::fsutil::{self, NewFile};

/// Settings of the root's /etc/login.defs and /etc/default/useradd that matter here.
#[derive(Debug, Clone)]
pub struct LoginDefs {
    values: BTreeMap<String, String>,
    useradd: BTreeMap<String, String>,
}

impl LoginDefs {
    /// Read them from the root (absent files: shadow-utils' built-in defaults).
    pub fn load(root: &Path) -> std::io::Result<LoginDefs> {
        let parse = |text: Option<String>, sep: char| {
            let mut m = BTreeMap::new();
            for line in text.unwrap_or_default().lines() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (k, v) = match line.split_once(sep) {
                    Some(kv) => kv,
                    None => match line.split_once(char::is_whitespace) {
                        Some(kv) => kv,
                        None => continue,
                    },
                };
                m.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
            }
            m
        };
        let defs = fsutil::read_opt(&fsutil::in_root(root, "/etc/login.defs", true))?;
        let ua = fsutil::read_opt(&fsutil::in_root(root, "/etc/default/useradd", true))?;
        Ok(LoginDefs {
            values: parse(defs, ' '),
            useradd: parse(ua, '='),
        })
    }

    fn num(&self, key: &str, default: i64) -> i64 {
        self.values
            .get(key)
            .and_then(|v| parse_c_number(v))
            .unwrap_or(default)
    }

    fn flag(&self, key: &str, default: bool) -> bool {
        self.values
            .get(key)
            .map(|v| v.eq_ignore_ascii_case("yes"))
            .unwrap_or(default)
    }

    /// Mode of a new home directory: HOME_MODE, else the complement of UMASK (as useradd).
    pub fn home_mode(&self) -> u32 {
        if let Some(m) = self.values.get("HOME_MODE").and_then(|v| parse_c_number(v)) {
            return m as u32 & 0o7777;
        }
        0o777 & !(self.num("UMASK", 0o77) as u32)
    }

    /// The default login shell (/etc/default/useradd SHELL, else /bin/bash).
    pub fn shell(&self) -> String {
        self.useradd
            .get("SHELL")
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| "/bin/bash".to_string())
    }

    fn skel(&self) -> String {
        self.useradd
            .get("SKEL")
            .cloned()
            .unwrap_or_else(|| "/etc/skel".to_string())
    }

    fn home_base(&self) -> String {
        self.useradd
            .get("HOME")
            .cloned()
            .unwrap_or_else(|| "/home".to_string())
    }
}

/// login.defs numbers are C literals: 022 is octal, 0x.. hex.
fn parse_c_number(v: &str) -> Option<i64> {
    let v = v.trim();
    if let Some(h) = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if v.len() > 1 && v.starts_with('0') {
        i64::from_str_radix(&v[1..], 8).ok()
    } else {
        v.parse().ok()
    }
}

/// One colon-separated database file, kept line by line.
#[derive(Debug, Clone)]
struct Table {
    path: PathBuf,
    lines: Vec<String>,
    new_mode: u32,
    changed: bool,
}

impl Table {
    fn load(root: &Path, path: &str, new_mode: u32) -> std::io::Result<Table> {
        // Read through a symlink at the path as a chroot would (inside the root); the
        // rewrite replaces the link itself.
        let host = fsutil::in_root(root, path, false);
        let text = fsutil::read_opt(&fsutil::in_root(root, path, true))?.unwrap_or_default();
        Ok(Table {
            path: host,
            lines: text.lines().map(str::to_string).collect(),
            new_mode,
            changed: false,
        })
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.lines
            .iter()
            .position(|l| l.split(':').next() == Some(name))
    }

    fn fields(&self, i: usize) -> Vec<String> {
        self.lines[i].split(':').map(str::to_string).collect()
    }

    fn set(&mut self, i: usize, fields: &[String]) {
        self.lines[i] = fields.join(":");
        self.changed = true;
    }

    fn push(&mut self, fields: &[String]) {
        self.lines.push(fields.join(":"));
        self.changed = true;
    }

    /// Numeric values of field `idx` of every entry.
    fn ids(&self, idx: usize) -> Vec<i64> {
        self.lines
            .iter()
            .filter_map(|l| l.split(':').nth(idx)?.parse().ok())
            .collect()
    }

    fn save(&self) -> std::io::Result<()> {
        if !self.changed {
            return Ok(());
        }
        let mut text = self.lines.join("\n");
        text.push('\n');
        fsutil::write_atomic(&self.path, text.as_bytes(), NewFile::root(self.new_mode))
    }
}

/// What can go wrong while editing the account files.
#[derive(Debug)]
pub enum AccountError {
    /// A file operation.
    Io(IoError),
    /// A request that cannot be satisfied.
    Invalid(String),
    /// A user that does not exist.
    NoUser(String),
}

impl From<IoError> for AccountError {
    fn from(e: IoError) -> Self {
        AccountError::Io(e)
    }
}

/// A new user, as `user` gives it.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// Login name.
    pub name: String,
    /// `--uid`.
    pub uid: Option<u32>,
    /// `--gid`.
    pub gid: Option<u32>,
    /// `--groups` (entries may be `name(gid)`).
    pub groups: Vec<String>,
    /// `--homedir` ("" = HOME/name).
    pub home: String,
    /// `--shell` ("" = default).
    pub shell: String,
    /// `--gecos`.
    pub gecos: String,
    /// The shadow password field (already hashed, `!`-prefixed when locked).
    pub password: String,
}

/// The four account databases of a root, loaded for editing.
#[derive(Debug)]
pub struct Accounts {
    root: PathBuf,
    passwd: Table,
    shadow: Table,
    group: Table,
    gshadow: Table,
    /// The root's login.defs and useradd defaults.
    pub defs: LoginDefs,
    /// Day number written to shadow's last-change field.
    pub today: i64,
}

fn check_field(what: &str, v: &str) -> Result<(), AccountError> {
    if v.contains(':') || v.contains('\n') {
        return Err(AccountError::Invalid(format!(
            "{what} `{v}` contains `:` or a newline"
        )));
    }
    Ok(())
}

impl Accounts {
    /// Load the databases of `root`; `today` is the shadow last-change day.
    pub fn load(root: &Path, today: i64) -> Result<Accounts, AccountError> {
        let t =
            |p: &str, mode| Table::load(root, p, mode).map_err(IoError::at("read", Path::new(p)));
        Ok(Accounts {
            root: root.to_path_buf(),
            passwd: t("/etc/passwd", 0o644)?,
            shadow: t("/etc/shadow", 0o000)?,
            group: t("/etc/group", 0o644)?,
            gshadow: t("/etc/gshadow", 0o000)?,
            defs: LoginDefs::load(root)
                .map_err(IoError::at("read", Path::new("/etc/login.defs")))?,
            today,
        })
    }

    /// Write back what changed.
    pub fn save(&self) -> Result<(), AccountError> {
        for t in [&self.passwd, &self.shadow, &self.group, &self.gshadow] {
            t.save().map_err(IoError::at("write", &t.path))?;
        }
        Ok(())
    }

    /// Uid, gid and home of a user.
    pub fn user(&self, name: &str) -> Option<(u32, u32, String)> {
        let f = self.passwd.fields(self.passwd.find(name)?);
        Some((
            f.get(2)?.parse().ok()?,
            f.get(3)?.parse().ok()?,
            f.get(5)?.clone(),
        ))
    }

    /// Gid of a group.
    pub fn group_gid(&self, name: &str) -> Option<u32> {
        let f = self.group.fields(self.group.find(name)?);
        f.get(2)?.parse().ok()
    }

    fn gid_used(&self, gid: u32) -> bool {
        self.group.ids(2).contains(&(gid as i64))
    }

    /// useradd's choice: one above the highest id in [MIN, MAX], else the lowest free one.
    fn next_id(used: &[i64], min: i64, max: i64, preferred: Option<i64>) -> Option<i64> {
        if let Some(p) = preferred {
            if (min..=max).contains(&p) && !used.contains(&p) {
                return Some(p);
            }
        }
        let top = used
            .iter()
            .copied()
            .filter(|i| (min..=max).contains(i))
            .max();
        match top {
            None => Some(min),
            Some(t) if t < max => Some(t + 1),
            Some(_) => (min..=max).find(|i| !used.contains(i)),
        }
    }

    fn new_gid(&self, preferred: Option<i64>) -> Result<u32, AccountError> {
        let (min, max) = (
            self.defs.num("GID_MIN", 1000),
            self.defs.num("GID_MAX", 60000),
        );
        Self::next_id(&self.group.ids(2), min, max, preferred)
            .map(|g| g as u32)
            .ok_or_else(|| AccountError::Invalid(format!("no free gid in {min}..={max}")))
    }

    /// The shadow fields a new account gets (password aging from login.defs).
    fn shadow_entry(&self, name: &str, password: &str) -> Vec<String> {
        let opt = |k: &str, d: i64| {
            let v = self.defs.num(k, d);
            if v < 0 {
                String::new()
            } else {
                v.to_string()
            }
        };
        vec![
            name.to_string(),
            password.to_string(),
            self.today.to_string(),
            opt("PASS_MIN_DAYS", -1),
            opt("PASS_MAX_DAYS", -1),
            opt("PASS_WARN_AGE", -1),
            String::new(),
            String::new(),
            String::new(),
        ]
    }

    /// `groupadd [-g gid] name`; returns the gid, or `None` when the group exists already.
    pub fn add_group(&mut self, name: &str, gid: Option<u32>) -> Result<Option<u32>, AccountError> {
        check_field("group name", name)?;
        if self.group.find(name).is_some() {
            return Ok(None);
        }
        let gid = match gid {
            Some(g) if self.gid_used(g) => {
                return Err(AccountError::Invalid(format!("GID {g} is already used")))
            }
            Some(g) => g,
            None => self.new_gid(None)?,
        };
        self.group
            .push(&[name.into(), "x".into(), gid.to_string(), String::new()]);
        self.gshadow
            .push(&[name.into(), "!".into(), String::new(), String::new()]);
        Ok(Some(gid))
    }

    fn add_member(&mut self, group: &str, user: &str) {
        for t in [&mut self.group, &mut self.gshadow] {
            let Some(i) = t.find(group) else { continue };
            let mut f = t.fields(i);
            while f.len() < 4 {
                f.push(String::new());
            }
            let mut members: Vec<&str> = f[3].split(',').filter(|m| !m.is_empty()).collect();
            if members.contains(&user) {
                continue;
            }
            members.push(user);
            f[3] = members.join(",");
            t.set(i, &f);
        }
    }

    /// Set a user's shadow password field (already hashed or locked) and its last-change day.
    pub fn set_password(&mut self, name: &str, field: &str) -> Result<(), AccountError> {
        check_field("password", field)?;
        if self.passwd.find(name).is_none() {
            return Err(AccountError::NoUser(name.to_string()));
        }
        match self.shadow.find(name) {
            Some(i) => {
                let mut f = self.shadow.fields(i);
                while f.len() < 9 {
                    f.push(String::new());
                }
                f[1] = field.to_string();
                f[2] = self.today.to_string();
                self.shadow.set(i, &f);
            }
            None => {
                let e = self.shadow_entry(name, field);
                self.shadow.push(&e);
            }
        }
        Ok(())
    }

    /// The current shadow password field of a user.
    pub fn password(&self, name: &str) -> Option<String> {
        let f = self.shadow.fields(self.shadow.find(name)?);
        f.get(1).cloned()
    }

    /// `useradd` with Anaconda's arguments: user private group (or `--gid`), supplementary
    /// groups created when missing, home from the skeleton unless it exists. Returns the uid,
    /// or `None` when the user already exists (Anaconda skips it too).
    pub fn add_user(&mut self, u: &NewUser) -> Result<Option<u32>, AccountError> {
        for (what, v) in [
            ("user name", &u.name),
            ("gecos", &u.gecos),
            ("home", &u.home),
            ("shell", &u.shell),
        ] {
            check_field(what, v)?;
        }
        if u.name.is_empty() {
            return Err(AccountError::Invalid("empty user name".into()));
        }
        if self.passwd.find(&u.name).is_some() {
            return Ok(None);
        }
        let used_uids = self.passwd.ids(2);
        let uid = match u.uid {
            Some(x) if used_uids.contains(&(x as i64)) => {
                return Err(AccountError::Invalid(format!("UID {x} is not unique")))
            }
            Some(x) => x,
            None => {
                let (min, max) = (
                    self.defs.num("UID_MIN", 1000),
                    self.defs.num("UID_MAX", 60000),
                );
                Self::next_id(&used_uids, min, max, None)
                    .ok_or_else(|| AccountError::Invalid(format!("no free uid in {min}..={max}")))?
                    as u32
            }
        };
        // The primary group: an existing group with --gid, else a new group named after the
        // user (USERGROUPS_ENAB), with the uid as gid when that is free.
        let gid = match u.gid {
            Some(g) if self.gid_used(g) => g,
            Some(g) => {
                if self.group.find(&u.name).is_some() {
                    return Err(AccountError::Invalid(format!(
                        "group `{}` exists already with another gid than {g}",
                        u.name
                    )));
                }
                self.add_group(&u.name, Some(g))?;
                g
            }
            None => match self.group_gid(&u.name) {
                Some(_) if self.defs.flag("USERGROUPS_ENAB", true) => {
                    return Err(AccountError::Invalid(format!(
                        "group `{}` exists - if you want to add this user to that group, use --gid",
                        u.name
                    )))
                }
                _ if !self.defs.flag("USERGROUPS_ENAB", true) => 100,
                _ => {
                    let g = self.new_gid(Some(uid as i64))?;
                    self.add_group(&u.name, Some(g))?;
                    g
                }
            },
        };
        let mut supplementary = Vec::new();
        for g in &u.groups {
            let g = g.trim();
            if g.is_empty() {
                continue;
            }
            // Anaconda's `name(gid)` form creates the group with that gid.
            let (name, want) = match g.split_once('(') {
                Some((n, rest)) => (n.trim(), rest.trim_end_matches(')').trim().parse().ok()),
                None => (g, None),
            };
            if self.group.find(name).is_none() {
                self.add_group(name, want)?;
            }
            supplementary.push(name.to_string());
        }
        let home = if u.home.is_empty() {
            format!("{}/{}", self.defs.home_base().trim_end_matches('/'), u.name)
        } else {
            u.home.clone()
        };
        let shell = if u.shell.is_empty() {
            self.defs.shell()
        } else {
            u.shell.clone()
        };
        self.passwd.push(&[
            u.name.clone(),
            "x".into(),
            uid.to_string(),
            gid.to_string(),
            u.gecos.clone(),
            home.clone(),
            shell,
        ]);
        let password = if u.password.is_empty() {
            "!".to_string()
        } else {
            u.password.clone()
        };
        let e = self.shadow_entry(&u.name, &password);
        self.shadow.push(&e);
        for g in supplementary {
            self.add_member(&g, &u.name);
        }
        self.make_home(&home, uid, gid)?;
        Ok(Some(uid))
    }

    fn make_home(&self, home: &str, uid: u32, gid: u32) -> Result<(), AccountError> {
        let host = fsutil::in_root(&self.root, home, false);
        if std::fs::symlink_metadata(&host).is_ok() {
            return Ok(());
        }
        if let Some(parent) = host.parent() {
            std::fs::create_dir_all(parent).map_err(IoError::at("create directory", parent))?;
        }
        std::fs::create_dir(&host).map_err(IoError::at("create directory", &host))?;
        crate::attrs::lchown(&host, uid, gid).map_err(IoError::at("change the owner of", &host))?;
        std::fs::set_permissions(
            &host,
            std::fs::Permissions::from_mode(self.defs.home_mode()),
        )
        .map_err(IoError::at("set the mode of", &host))?;
        let skel = fsutil::in_root(&self.root, &self.defs.skel(), true);
        if skel.is_dir() {
            copy_tree(&skel, &host, uid, gid)?;
        }
        Ok(())
    }
}

/// Copy a skeleton tree: modes kept, owner set to the new user (as useradd -m).
fn copy_tree(from: &Path, to: &Path, uid: u32, gid: u32) -> Result<(), AccountError> {
    let entries = std::fs::read_dir(from).map_err(IoError::at("read directory", from))?;
    let mut entries: Vec<_> = entries
        .collect::<Result<_, _>>()
        .map_err(IoError::at("read directory", from))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let src = e.path();
        let dst = to.join(e.file_name());
        let meta = std::fs::symlink_metadata(&src).map_err(IoError::at("inspect", &src))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst).map_err(IoError::at("create directory", &dst))?;
            copy_tree(&src, &dst, uid, gid)?;
        } else if ft.is_symlink() {
            let t = std::fs::read_link(&src).map_err(IoError::at("read link", &src))?;
            std::os::unix::fs::symlink(t, &dst).map_err(IoError::at("create link", &dst))?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst).map_err(IoError::at("copy to", &dst))?;
        } else {
            // Devices and fifos have no place in a skeleton; useradd skips sockets too.
            continue;
        }
        crate::attrs::lchown(&dst, uid, gid).map_err(IoError::at("change the owner of", &dst))?;
        if !ft.is_symlink() {
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
                .map_err(IoError::at("set the mode of", &dst))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_numbers() {
        assert_eq!(parse_c_number("022"), Some(0o22));
        assert_eq!(parse_c_number("1000"), Some(1000));
        assert_eq!(parse_c_number("0x10"), Some(16));
        assert_eq!(parse_c_number("0"), Some(0));
    }

    #[test]
    fn id_allocation_follows_useradd() {
        assert_eq!(
            Accounts::next_id(&[0, 1, 65534], 1000, 60000, None),
            Some(1000)
        );
        assert_eq!(
            Accounts::next_id(&[0, 1000, 1005], 1000, 60000, None),
            Some(1006)
        );
        assert_eq!(
            Accounts::next_id(&[1000, 1002], 1000, 1002, None),
            Some(1001)
        );
        assert_eq!(Accounts::next_id(&[1000, 1001], 1000, 1001, None), None);
        assert_eq!(
            Accounts::next_id(&[1000], 1000, 60000, Some(1003)),
            Some(1003)
        );
        assert_eq!(
            Accounts::next_id(&[1000], 1000, 60000, Some(1000)),
            Some(1001)
        );
    }
}
