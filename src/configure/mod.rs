//! Configure: the kickstart's system configuration applied natively to an installed root, the
//! way livecd-creator (python-imgcreate `kickstart.py`) and Anaconda apply it, plus `%pre` and
//! `%post`.
//!
//! Owns: locale/keyboard/time zone files, accounts (passwd/shadow/group/gshadow, homes, SSH keys),
//! SELinux mode, `systemctl --root` enable/disable, network files and host name, the firewall
//! (through `firewall-offline-cmd` in the root), and the kernel command line the kickstart asks
//! for. Knows nothing of boot loaders or media: [`kernel_cmdline`] only computes the string.
//!
//! - [`fsutil`]: chroot-like path resolution and atomic file replacement beneath the root.
//! - [`crypt`]: SHA-512 crypt for `rootpw`/`user --password`.
//! - [`accounts`], [`services`], [`locale`], [`network`]: the per-command writers.
//! - [`scripts`]: `%pre` and `%post`.
//! - [`selinux_label`]: file_contexts read natively and the root's `security.selinux` labels
//!   ([`label_root`], the build's last step before the root image is written).

pub mod accounts;
pub mod crypt;
pub mod error;
pub mod locale;
pub mod network;
pub mod scripts;
pub mod selinux_label;
pub mod services;

use crate::fsutil;
use std::path::{Path, PathBuf};

pub use error::ConfigureError;
pub use network::NetworkBackend;
pub use scripts::{run_post as run_post_scripts, PostNetwork, ScriptEnv, ScriptRun};

use crate::install::scriptlet::{ScriptRunner, ScriptSpec};
use crate::kickstart::commands::{
    bootloader::Bootloader, firewall::Firewall, firstboot::Firstboot, firstboot::FirstbootMode,
    group::Group, keyboard::Keyboard, lang::Lang, network::Network, rootpw::RootPw,
    selinux::Selinux, selinux::SelinuxMode, services::Services, sshkey::SshKey, timezone::Timezone,
    user::User, xconfig::XConfig,
};
use crate::kickstart::{Kickstart, Origin};

/// How to configure.
#[derive(Debug, Clone, Default)]
pub struct ConfigureOptions {
    /// `SOURCE_DATE_EPOCH`: shadow's last-change day and password salts become reproducible.
    pub source_date_epoch: Option<i64>,
    /// Runs programs inside the root (the kiln scriptlet helper); the current binary when `None`.
    pub runner: Option<ScriptRunner>,
    /// `LIVE_ROOT` for `%post --nochroot` (the ISO staging directory).
    pub live_root: Option<PathBuf>,
    /// Where host script files go (the build's work directory, so that a killed build's
    /// are removed with it); the system temp dir when `None`.
    pub tmp_dir: Option<PathBuf>,
    /// The network chroot `%post` gets (`--post-network`).
    pub post_network: PostNetwork,
}

impl ConfigureOptions {
    fn script_env(&self) -> ScriptEnv {
        ScriptEnv {
            runner: self.runner.clone(),
            live_root: self.live_root.clone(),
            tmp_dir: self.tmp_dir.clone(),
            post_network: self.post_network,
        }
    }
}

/// One thing done to the root.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    /// Kickstart command.
    pub command: &'static str,
    /// Its line.
    pub origin: Origin,
    /// What was done.
    pub action: String,
}

/// Something the kickstart asked for that was not (fully) applied.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Warning {
    /// Kickstart command.
    pub command: &'static str,
    /// Its line.
    pub origin: Origin,
    /// Why.
    pub message: String,
}

/// What [`configure`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ConfigureReport {
    /// Steps in the order they were applied.
    pub steps: Vec<Step>,
    /// Requests not applied.
    pub warnings: Vec<Warning>,
    /// The network configuration written, when `network` configured devices.
    pub network_backend: Option<NetworkBackend>,
}

impl ConfigureReport {
    fn step(&mut self, command: &'static str, origin: &Origin, action: impl Into<String>) {
        let action = action.into();
        tracing::debug!("{command} ({origin}): {action}");
        self.steps.push(Step {
            command,
            origin: origin.clone(),
            action,
        });
    }
    fn warn(&mut self, command: &'static str, origin: &Origin, message: impl Into<String>) {
        let message = message.into();
        tracing::debug!("{command} ({origin}): not applied: {message}");
        self.warnings.push(Warning {
            command,
            origin: origin.clone(),
            message,
        });
    }
}

/// The last line that used a command, when it was used.
fn used(ks: &Kickstart, name: &str) -> Option<Origin> {
    ks.slot(name)
        .filter(|s| s.seen())
        .and_then(|s| s.lines.last().cloned())
}

/// The line of item `i` of a multi-line command.
fn item_origin(ks: &Kickstart, name: &str, i: usize) -> Origin {
    ks.slot(name)
        .and_then(|s| s.item_origins.get(&i).or(s.lines.get(i)).or(s.lines.last()))
        .cloned()
        .unwrap_or_else(|| Origin::new("kickstart", 0))
}

/// The kernel command line the kickstart asks for (`bootloader --append`); the arguments a live
/// image needs are added by the boot stage.
pub fn kernel_cmdline(ks: &Kickstart) -> String {
    let Some(b) = ks.command::<Bootloader>() else {
        return String::new();
    };
    b.kernel_args()
        .into_iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if v.contains(char::is_whitespace) => format!("{k}=\"{v}\""),
            _ => a,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run every `%pre` on the host (before anything else of the build).
pub fn run_pre(ks: &Kickstart, opts: &ConfigureOptions) -> Result<Vec<ScriptRun>, ConfigureError> {
    scripts::run_pre(ks, &opts.script_env())
}

/// Run every `%post` against `root` (after [`configure`]).
pub fn run_post(
    ks: &Kickstart,
    root: &Path,
    opts: &ConfigureOptions,
) -> Result<Vec<ScriptRun>, ConfigureError> {
    scripts::run_post(ks, root, &opts.script_env())
}

/// What [`label_root`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootLabels {
    /// `selinux --disabled`: no labels.
    Disabled,
    /// The root has no policy (`/etc/selinux/config`'s `SELINUXTYPE` and its
    /// `contexts/files/file_contexts`): no labels.
    NoPolicy,
    /// Every path labelled from the policy `policy_type`.
    Labelled {
        /// `SELINUXTYPE`.
        policy_type: String,
        /// Counts.
        stats: selinux_label::LabelStats,
    },
}

/// The root's SELinux labels, as the target's `setfiles` would set them, computed natively
/// ([`selinux_label`]): every path gets its `security.selinux` xattr when the root has a policy
/// and the kickstart does not say `selinux --disabled`. Run it after everything that writes to
/// the root (`%post`, the boot files), right before the root image is written.
pub fn label_root(ks: &Kickstart, root: &Path) -> Result<RootLabels, ConfigureError> {
    let disabled = ks
        .command::<Selinux>()
        .is_some_and(|s| s.mode == Some(SelinuxMode::Disabled));
    if disabled {
        return Ok(RootLabels::Disabled);
    }
    let started = std::time::Instant::now();
    let Some(fc) = selinux_label::FileContexts::load(root)? else {
        return Ok(RootLabels::NoPolicy);
    };
    let loaded = started.elapsed().as_secs_f64();
    let stats = selinux_label::label_tree(root, &fc)?;
    tracing::debug!(
        "SELinux: {} file context specs read in {loaded:.2} s, {} paths labelled in {:.2} s",
        fc.len(),
        stats.paths,
        started.elapsed().as_secs_f64() - loaded
    );
    Ok(RootLabels::Labelled {
        policy_type: fc.policy_type.clone(),
        stats,
    })
}

/// Apply the kickstart's system configuration to `root`, in livecd-creator's order: lang,
/// keyboard, timezone, auth, firewall, rootpw, group, user, sshkey, services, firstboot,
/// xconfig, network, selinux.
pub fn configure(
    ks: &Kickstart,
    root: &Path,
    opts: &ConfigureOptions,
) -> Result<ConfigureReport, ConfigureError> {
    let mut rep = ConfigureReport::default();
    let mut cx = Cx {
        ks,
        root,
        opts,
        rep: &mut rep,
    };
    cx.lang()?;
    cx.keyboard()?;
    cx.timezone()?;
    cx.auth();
    cx.firewall()?;
    cx.accounts()?;
    cx.services();
    cx.firstboot()?;
    cx.xconfig();
    cx.network()?;
    cx.selinux()?;
    Ok(rep)
}

struct Cx<'a> {
    ks: &'a Kickstart,
    root: &'a Path,
    opts: &'a ConfigureOptions,
    rep: &'a mut ConfigureReport,
}

fn write_err(
    command: &'static str,
    origin: &Origin,
    path: PathBuf,
    e: std::io::Error,
) -> ConfigureError {
    ConfigureError::Write {
        command,
        origin: origin.clone(),
        path,
        source: e,
    }
}

impl Cx<'_> {
    fn write_etc(
        &mut self,
        command: &'static str,
        o: &Origin,
        path: &str,
        text: &str,
    ) -> Result<(), ConfigureError> {
        locale::write_etc(self.root, path, text)
            .map_err(|e| write_err(command, o, fsutil::in_root(self.root, path, false), e))?;
        self.rep.step(command, o, format!("wrote {path}"));
        Ok(())
    }

    fn read_etc(
        &self,
        command: &'static str,
        o: &Origin,
        path: &str,
    ) -> Result<Option<String>, ConfigureError> {
        let host = fsutil::in_root(self.root, path, true);
        fsutil::read_opt(&host).map_err(|e| ConfigureError::Read {
            command,
            origin: o.clone(),
            path: host,
            source: e,
        })
    }

    fn lang(&mut self) -> Result<(), ConfigureError> {
        let (Some(o), Some(l)) = (used(self.ks, "lang"), self.ks.command::<Lang>()) else {
            return Ok(());
        };
        if l.lang.is_empty() {
            return Ok(());
        }
        self.write_etc(
            "lang",
            &o,
            "/etc/locale.conf",
            &locale::locale_conf(&l.lang),
        )?;
        if !l.addsupport.is_empty() {
            self.rep.warn(
                "lang",
                &o,
                "--addsupport only affects package selection (langpacks)",
            );
        }
        Ok(())
    }

    fn keyboard(&mut self) -> Result<(), ConfigureError> {
        let (Some(o), Some(k)) = (used(self.ks, "keyboard"), self.ks.command::<Keyboard>()) else {
            return Ok(());
        };
        let keymap = if !k.vc_keymap.is_empty() {
            Some(k.vc_keymap.clone())
        } else if !k.keyboard.is_empty() {
            Some(k.keyboard.clone())
        } else {
            // localed's X11 -> console conversion table is not available: the first layout is
            // the usual console keymap name too.
            k.x_layouts.first().map(|l| locale::split_layout(l).0)
        };
        if let Some(km) = keymap {
            let old = self.read_etc("keyboard", &o, "/etc/vconsole.conf")?;
            let text = locale::update_env_file(old.as_deref(), &[("KEYMAP", &km)]);
            self.write_etc("keyboard", &o, "/etc/vconsole.conf", &text)?;
        }
        if !k.x_layouts.is_empty() {
            let text = locale::x11_keyboard_conf(&k.x_layouts, &k.switch_options);
            self.write_etc(
                "keyboard",
                &o,
                "/etc/X11/xorg.conf.d/00-keyboard.conf",
                &text,
            )?;
        }
        Ok(())
    }

    fn timezone(&mut self) -> Result<(), ConfigureError> {
        let (Some(o), Some(t)) = (used(self.ks, "timezone"), self.ks.command::<Timezone>()) else {
            return Ok(());
        };
        let have_tzdata = fsutil::in_root(self.root, "/usr/share/zoneinfo", true).is_dir();
        if !t.timezone.is_empty() && !have_tzdata {
            // No tzdata at all (a minimal image): nothing to link to; the system runs in UTC.
            // A zone missing from an installed tzdata is still an error (a typo).
            self.rep.warn(
                "timezone",
                &o,
                format!(
                    "the root has no /usr/share/zoneinfo (tzdata not installed): /etc/localtime not set for `{}`",
                    t.timezone
                ),
            );
        } else if !t.timezone.is_empty() {
            let rel = locale::zone_file(self.root, &t.timezone).map_err(|missing| {
                ConfigureError::UnknownTimezone {
                    origin: o.clone(),
                    zone: t.timezone.clone(),
                    path: fsutil::in_root(self.root, &missing.path, false),
                }
            })?;
            let link = fsutil::in_root(self.root, "/etc/localtime", false);
            // Relative, as timedatectl and systemd-firstboot write it.
            let target = format!("..{rel}");
            fsutil::symlink_atomic(&target, &link)
                .map_err(|e| write_err("timezone", &o, link.clone(), e))?;
            self.rep
                .step("timezone", &o, format!("/etc/localtime -> {target}"));
        }
        self.write_etc("timezone", &o, "/etc/adjtime", &locale::adjtime(t.utc))?;
        if t.nontp || !t.ntpservers.is_empty() {
            self.rep.warn(
                "timezone",
                &o,
                "--nontp/--ntpservers are not applied (use services/timesource in %post)",
            );
        }
        Ok(())
    }

    fn auth(&mut self) {
        for name in ["authconfig", "authselect"] {
            if let Some(o) = used(self.ks, name) {
                self.rep.warn(
                    if name == "authconfig" {
                        "authconfig"
                    } else {
                        "authselect"
                    },
                    &o,
                    "authentication configuration is not applied; run authselect in %post",
                );
            }
        }
    }

    fn run_in_root(
        &self,
        command: &'static str,
        o: &Origin,
        prog: Vec<String>,
    ) -> Result<(), ConfigureError> {
        let runner = match &self.opts.runner {
            Some(r) => r.clone(),
            None => ScriptRunner::current().map_err(|e| ConfigureError::Write {
                command,
                origin: o.clone(),
                path: PathBuf::from("/proc/self/exe"),
                source: e,
            })?,
        };
        let spec = ScriptSpec {
            name: format!("{command} ({o})"),
            root: self.root.to_path_buf(),
            prog: prog.clone(),
            body: None,
            ..Default::default()
        };
        let out = runner.run(&spec).map_err(|e| ConfigureError::Runner {
            command,
            origin: o.clone(),
            source: e,
        })?;
        if !out.success() {
            return Err(ConfigureError::ToolFailed {
                command,
                origin: o.clone(),
                program: prog.join(" "),
                status: out.status,
                output: error::tail(&out.output),
            });
        }
        Ok(())
    }

    fn firewall(&mut self) -> Result<(), ConfigureError> {
        let (Some(o), Some(f)) = (used(self.ks, "firewall"), self.ks.command::<Firewall>()) else {
            return Ok(());
        };
        let Some(enabled) = f.enabled else {
            return Ok(());
        };
        if f.use_system_defaults {
            self.rep.step(
                "firewall",
                &o,
                "left at the system defaults (--use-system-defaults)",
            );
            return Ok(());
        }
        let tool = [
            "/usr/bin/firewall-offline-cmd",
            "/usr/sbin/firewall-offline-cmd",
        ]
        .into_iter()
        .find(|p| fsutil::in_root(self.root, p, true).exists());
        let Some(tool) = tool else {
            self.rep.warn(
                "firewall",
                &o,
                "the root has no firewall-offline-cmd: firewall settings not applied",
            );
            return Ok(());
        };
        let mut args = vec![tool.to_string()];
        if !enabled {
            args.push("--disabled".into());
        } else {
            args.push("--enabled".into());
            args.extend(f.trusts.iter().map(|t| format!("--trust={t}")));
            args.extend(f.ports.iter().map(|p| format!("--port={p}")));
            args.extend(
                f.remove_services
                    .iter()
                    .map(|s| format!("--remove-service={s}")),
            );
            args.extend(f.services.iter().map(|s| format!("--service={s}")));
            // Anaconda keeps SSH open unless the kickstart removes it.
            let ssh_named = f.services.iter().any(|s| s == "ssh")
                || f.remove_services.iter().any(|s| s == "ssh")
                || f.ports.iter().any(|p| p == "22:tcp" || p == "ssh:tcp");
            if !ssh_named {
                args.push("--service=ssh".into());
            }
        }
        self.run_in_root("firewall", &o, args.clone())?;
        self.rep
            .step("firewall", &o, format!("ran {}", args.join(" ")));
        Ok(())
    }

    fn today(&self) -> i64 {
        let secs = self.opts.source_date_epoch.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
        secs / 86400
    }

    fn hash(
        &self,
        command: &'static str,
        o: &Origin,
        user: &str,
        pw: &str,
    ) -> Result<String, ConfigureError> {
        let salt = match self.opts.source_date_epoch {
            Some(sde) => crypt::derived_salt(pw, &format!("{user}:{sde}")),
            None => crypt::random_salt().map_err(|e| ConfigureError::Read {
                command,
                origin: o.clone(),
                path: PathBuf::from("/dev/urandom"),
                source: e,
            })?,
        };
        Ok(crypt::sha512_crypt(pw, &salt))
    }

    fn accounts(&mut self) -> Result<(), ConfigureError> {
        let any = ["rootpw", "group", "user", "sshkey"]
            .iter()
            .find_map(|n| used(self.ks, n));
        let Some(first) = any else {
            return Ok(());
        };
        let acc_err = |command: &'static str, o: &Origin, e: accounts::AccountError| match e {
            accounts::AccountError::Io(e) => ConfigureError::Write {
                command,
                origin: o.clone(),
                path: e.path,
                source: e.source,
            },
            accounts::AccountError::Invalid(message) => ConfigureError::Invalid {
                command,
                origin: o.clone(),
                message,
            },
            accounts::AccountError::NoUser(user) => ConfigureError::UnknownUser {
                command,
                origin: o.clone(),
                user,
            },
        };
        let mut acc = accounts::Accounts::load(self.root, self.today())
            .map_err(|e| acc_err("rootpw", &first, e))?;

        if let (Some(o), Some(r)) = (used(self.ks, "rootpw"), self.ks.command::<RootPw>()) {
            let mut field = if r.password.is_empty() {
                acc.password("root").unwrap_or_else(|| "*".into())
            } else if r.is_crypted {
                r.password.clone()
            } else {
                self.hash("rootpw", &o, "root", &r.password)?
            };
            if r.lock && !field.starts_with('!') {
                field.insert(0, '!');
            }
            acc.set_password("root", &field)
                .map_err(|e| acc_err("rootpw", &o, e))?;
            self.rep.step(
                "rootpw",
                &o,
                if r.lock {
                    "set root's password (locked)"
                } else {
                    "set root's password"
                },
            );
            if r.allow_ssh {
                self.rep.warn(
                    "rootpw",
                    &o,
                    "--allow-ssh is ignored: sshd configuration is left alone",
                );
            }
        }

        if let Some(g) = self.ks.command::<Group>() {
            for (i, gd) in g.groups.iter().enumerate() {
                let o = item_origin(self.ks, "group", i);
                let gid = id32("group", &o, gd.gid)?;
                match acc
                    .add_group(&gd.name, gid)
                    .map_err(|e| acc_err("group", &o, e))?
                {
                    Some(gid) => {
                        self.rep
                            .step("group", &o, format!("added group {} ({gid})", gd.name))
                    }
                    None => self.rep.warn(
                        "group",
                        &o,
                        format!("group `{}` exists already: left alone", gd.name),
                    ),
                }
            }
        }

        if let Some(u) = self.ks.command::<User>() {
            for (i, ud) in u.users.iter().enumerate() {
                let o = item_origin(self.ks, "user", i);
                let mut password = if ud.password.is_empty() {
                    String::new()
                } else if ud.is_crypted {
                    ud.password.clone()
                } else {
                    self.hash("user", &o, &ud.name, &ud.password)?
                };
                if ud.lock {
                    password.insert(0, '!');
                }
                let nu = accounts::NewUser {
                    name: ud.name.clone(),
                    uid: id32("user", &o, ud.uid)?,
                    gid: id32("user", &o, ud.gid)?,
                    groups: ud.groups.clone(),
                    home: ud.homedir.clone(),
                    shell: ud.shell.clone(),
                    gecos: ud.gecos.clone(),
                    password,
                };
                match acc.add_user(&nu).map_err(|e| acc_err("user", &o, e))? {
                    Some(uid) => {
                        self.rep
                            .step("user", &o, format!("added user {} ({uid})", ud.name))
                    }
                    None => self.rep.warn(
                        "user",
                        &o,
                        format!("user `{}` exists already: left alone", ud.name),
                    ),
                }
            }
        }
        acc.save().map_err(|e| acc_err("user", &first, e))?;

        if let Some(k) = self.ks.command::<SshKey>() {
            for (i, kd) in k.keys.iter().enumerate() {
                let o = item_origin(self.ks, "sshkey", i);
                let Some((uid, gid, home)) = acc.user(&kd.username) else {
                    return Err(ConfigureError::UnknownUser {
                        command: "sshkey",
                        origin: o,
                        user: kd.username.clone(),
                    });
                };
                self.add_ssh_key(&o, uid, gid, &home, &kd.key)?;
                self.rep.step(
                    "sshkey",
                    &o,
                    format!("added a key to {home}/.ssh/authorized_keys"),
                );
            }
        }
        Ok(())
    }

    fn add_ssh_key(
        &self,
        o: &Origin,
        uid: u32,
        gid: u32,
        home: &str,
        key: &str,
    ) -> Result<(), ConfigureError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = fsutil::in_root(self.root, &format!("{home}/.ssh"), false);
        let err = |p: &Path, e| write_err("sshkey", o, p.to_path_buf(), e);
        if std::fs::symlink_metadata(&dir).is_err() {
            std::fs::create_dir_all(&dir).map_err(|e| err(&dir, e))?;
            crate::attrs::lchown(&dir, uid, gid).map_err(|e| err(&dir, e))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| err(&dir, e))?;
        }
        // Resolved beneath the root: `.ssh` or the file may be links a package planted.
        let file = fsutil::in_root(self.root, &format!("{home}/.ssh/authorized_keys"), true);
        let mut line = key.trim_end().to_string();
        line.push('\n');
        fsutil::append(
            &file,
            line.as_bytes(),
            fsutil::NewFile {
                mode: 0o600,
                uid,
                gid,
            },
        )
        .map_err(|e| err(&file, e))
    }

    fn apply_changes(&mut self, command: &'static str, o: &Origin, ch: services::Changes) {
        for c in ch.removed {
            self.rep.step(command, o, format!("removed {c}"));
        }
        for c in ch.created {
            self.rep.step(command, o, format!("created {c}"));
        }
        for w in ch.warnings {
            self.rep.warn(command, o, w);
        }
    }

    fn services(&mut self) {
        let (Some(o), Some(s)) = (used(self.ks, "services"), self.ks.command::<Services>()) else {
            return;
        };
        let mut ch = services::Changes::default();
        services::disable(self.root, &s.disabled, &mut ch);
        services::enable(self.root, &s.enabled, &mut ch);
        self.apply_changes("services", &o, ch);
    }

    fn firstboot(&mut self) -> Result<(), ConfigureError> {
        let (Some(o), Some(f)) = (used(self.ks, "firstboot"), self.ks.command::<Firstboot>())
        else {
            return Ok(());
        };
        let units: Vec<String> = [
            "initial-setup.service",
            "initial-setup-graphical.service",
            "initial-setup-text.service",
        ]
        .into_iter()
        .filter(|u| services::exists(self.root, u))
        .map(str::to_string)
        .collect();
        let mut ch = services::Changes::default();
        match f.mode {
            Some(FirstbootMode::Disabled) | None => services::disable(self.root, &units, &mut ch),
            Some(mode) => {
                if units.is_empty() {
                    ch.warnings
                        .push("the root has no initial-setup: nothing to enable".into());
                }
                services::enable(self.root, &units[..units.len().min(1)], &mut ch);
                if mode == FirstbootMode::Reconfig {
                    self.write_etc("firstboot", &o, "/etc/reconfigSys", "")?;
                }
            }
        }
        self.apply_changes("firstboot", &o, ch);
        Ok(())
    }

    fn xconfig(&mut self) {
        if let (Some(o), Some(x)) = (used(self.ks, "xconfig"), self.ks.command::<XConfig>()) {
            if x.startx {
                let mut ch = services::Changes::default();
                services::set_default(self.root, "graphical.target", &mut ch);
                self.apply_changes("xconfig", &o, ch);
            }
            if !x.defaultdesktop.is_empty() {
                self.rep
                    .warn("xconfig", &o, "--defaultdesktop is not applied");
            }
        }
        if let Some(o) = used(self.ks, "skipx") {
            self.rep.step("skipx", &o, "no X configuration written");
        }
    }

    fn network(&mut self) -> Result<(), ConfigureError> {
        let (Some(o), Some(n)) = (used(self.ks, "network"), self.ks.command::<Network>()) else {
            return Ok(());
        };
        if let Some(h) = n.hostname() {
            let o = n
                .network
                .iter()
                .position(|d| d.hostname == h)
                .map(|i| item_origin(self.ks, "network", i))
                .unwrap_or(o.clone());
            self.write_etc("network", &o, "/etc/hostname", &format!("{h}\n"))?;
        }
        let backend = network::detect(self.root);
        for (i, d) in n.network.iter().enumerate() {
            let o = item_origin(self.ks, "network", i);
            // A line that only names the host configures no device.
            if d.device.is_empty()
                && !d.hostname.is_empty()
                && d.ip.is_empty()
                && d.bootproto == "dhcp"
            {
                continue;
            }
            if let Some(what) = network::unsupported(d) {
                self.rep
                    .warn("network", &o, format!("{what} are not configured by kiln"));
                continue;
            }
            let Some(b) = backend else {
                self.rep.warn("network", &o, "the root has neither NetworkManager nor systemd-networkd: device not configured");
                continue;
            };
            let file = match b {
                NetworkBackend::NetworkManager => network::nm_keyfile(d, i),
                NetworkBackend::SystemdNetworkd => network::networkd_file(d, i),
            }
            .map_err(|e| ConfigureError::Invalid {
                command: "network",
                origin: o.clone(),
                message: e.to_string(),
            })?;
            let host = network::write(self.root, &file).map_err(|e| {
                write_err(
                    "network",
                    &o,
                    fsutil::in_root(self.root, &file.path, false),
                    e,
                )
            })?;
            tracing::trace!("wrote {}", host.display());
            self.rep.network_backend = Some(b);
            self.rep
                .step("network", &o, format!("wrote {} ({b:?})", file.path));
        }
        Ok(())
    }

    fn selinux(&mut self) -> Result<(), ConfigureError> {
        let (Some(o), Some(s)) = (used(self.ks, "selinux"), self.ks.command::<Selinux>()) else {
            return Ok(());
        };
        let Some(mode) = s.mode else {
            return Ok(());
        };
        let value = match mode {
            SelinuxMode::Enforcing => "enforcing",
            SelinuxMode::Permissive => "permissive",
            SelinuxMode::Disabled => "disabled",
        };
        let old = self.read_etc("selinux", &o, "/etc/selinux/config")?;
        let text = match old {
            Some(t) => locale::update_env_file(Some(&t), &[("SELINUX", value)]),
            None => format!("SELINUX={value}\nSELINUXTYPE=targeted\n"),
        };
        // The labels themselves come last, from label_root, once %post has run.
        self.write_etc("selinux", &o, "/etc/selinux/config", &text)?;
        Ok(())
    }
}

fn id32(command: &'static str, o: &Origin, v: Option<i64>) -> Result<Option<u32>, ConfigureError> {
    match v {
        None => Ok(None),
        Some(x) => u32::try_from(x)
            .map(Some)
            .map_err(|_| ConfigureError::Invalid {
                command,
                origin: o.clone(),
                message: format!("id {x} is out of range"),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(t: &str) -> Kickstart {
        crate::kickstart::parse_str(t, "t.ks", &Default::default()).unwrap()
    }

    #[test]
    fn label_root_follows_the_kickstart_and_the_policy() {
        let label = |root: &Path, p: &str| {
            let mut buf = [0u8; 256];
            rustix::fs::lgetxattr(root.join(p), selinux_label::XATTR_NAME, &mut buf[..])
                .ok()
                .map(|n| buf[..n].to_vec())
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/selinux/mini/contexts/files")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/sh"), "").unwrap();
        // No SELINUXTYPE yet: no policy.
        let enforcing = ks("selinux --enforcing\n");
        assert_eq!(label_root(&enforcing, root).unwrap(), RootLabels::NoPolicy);
        std::fs::write(
            root.join("etc/selinux/config"),
            "SELINUX=enforcing\nSELINUXTYPE=mini\n",
        )
        .unwrap();
        assert_eq!(label_root(&enforcing, root).unwrap(), RootLabels::NoPolicy);
        std::fs::write(
            root.join("etc/selinux/mini/contexts/files/file_contexts"),
            "/.*  u:object_r:default_t:s0\n/usr/bin(/.*)?  u:object_r:bin_t:s0\n/  -d  u:object_r:root_t:s0\n",
        )
        .unwrap();
        assert_eq!(
            label_root(&ks("selinux --disabled\n"), root).unwrap(),
            RootLabels::Disabled
        );
        assert_eq!(label(root, "usr/bin/sh"), None);
        // No selinux command: the root's policy decides, as with --enforcing.
        let RootLabels::Labelled { policy_type, stats } = label_root(&ks(""), root).unwrap() else {
            panic!("not labelled");
        };
        assert_eq!(policy_type, "mini");
        assert_eq!((stats.paths, stats.labelled), (11, 11));
        assert_eq!(
            label(root, "usr/bin/sh").as_deref(),
            Some(&b"u:object_r:bin_t:s0\0"[..])
        );
        assert_eq!(
            label(root, "").as_deref(),
            Some(&b"u:object_r:root_t:s0\0"[..])
        );
        assert_eq!(
            label(root, "etc/selinux/config").as_deref(),
            Some(&b"u:object_r:default_t:s0\0"[..])
        );
    }

    #[test]
    fn cmdline_from_bootloader_append() {
        assert_eq!(kernel_cmdline(&ks("lang C\n")), "");
        assert_eq!(
            kernel_cmdline(&ks(
                "bootloader --append=\"quiet rhgb console=ttyS0,115200\"\n"
            )),
            "quiet rhgb console=ttyS0,115200"
        );
    }

    #[test]
    fn origins_of_items() {
        let k = ks("user --name=a\n\nuser --name=b\n");
        assert_eq!(item_origin(&k, "user", 1).line, 3);
        assert_eq!(used(&k, "user").unwrap().line, 3);
        assert!(used(&k, "rootpw").is_none());
    }
}
