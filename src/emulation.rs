//! Running target code of another architecture (scriptlets, `%post`, dracut, grub-mkimage)
//! through qemu-user and binfmt_misc, for the length of a build.
//!
//! [`Binfmt::ensure`] makes sure the kernel hands the target's ELF binaries to the emulator:
//! it mounts binfmt_misc when nothing has, reuses a registration that already has the `F`
//! flag (Debian's binfmt-support + qemu-user-static make one), else registers its own
//! `kiln-qemu-<arch>-<pid>` entry. The `F` flag makes the kernel open the emulator when the
//! entry is registered, so it works inside the chroot and nothing is copied into the root.
//! The returned guard removes only what kiln itself added, on every exit path that unwinds.

use std::path::{Path, PathBuf};

use crate::arch::ArchInfo;

/// Where binfmt_misc lives.
pub const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// Prefix of kiln's own registrations (the test suite checks that none remain).
pub const ENTRY_PREFIX: &str = "kiln-qemu-";

/// A failure to set up emulation.
#[derive(Debug, thiserror::Error)]
pub enum EmulationError {
    /// The emulator is not installed.
    #[error("building for {arch} on this {host} host needs `{binary}` (qemu-user, static), which is not installed\nhint: install `{debian}` (Debian/Ubuntu) or `{fedora}` (Fedora/EL)")]
    NoEmulator {
        /// Target arch.
        arch: String,
        /// Host arch.
        host: String,
        /// The emulator's path.
        binary: String,
        /// Debian package.
        debian: String,
        /// Fedora package.
        fedora: String,
    },
    /// An ordinary user's build (a user namespace) cannot register an emulator itself.
    #[error("building for {arch} as an ordinary user needs a binfmt_misc registration of a static qemu-user for {arch} with the F flag, made once by the administrator, and this host has none{found}\nhint: as root, install `{debian}` (Debian/Ubuntu: binfmt-support registers it with F) or `{fedora}` (Fedora/EL: systemd-binfmt registers it); kiln uses that registration and never changes it")]
    Unregistered {
        /// Target arch.
        arch: String,
        /// What was found instead, if anything.
        found: String,
        /// Debian packages.
        debian: String,
        /// Fedora package.
        fedora: String,
    },
    /// binfmt_misc could not be mounted or written.
    #[error("cannot {action} binfmt_misc at {BINFMT_DIR}: {source}\nhint: kiln needs root (CAP_SYS_ADMIN) to run {arch} code through qemu-user; `{binary}` must be static")]
    Binfmt {
        /// What failed.
        action: &'static str,
        /// Target arch.
        arch: String,
        /// The emulator.
        binary: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

/// Where qemu-user binaries are looked for.
const EMULATOR_DIRS: &[&str] = &["/usr/bin", "/usr/local/bin"];

/// Sets up binfmt_misc for a target arch.
pub struct Binfmt;

/// Keeps emulation working while alive; undoes kiln's own changes when dropped.
#[derive(Debug)]
pub struct BinfmtGuard {
    /// Our registration (`/proc/sys/fs/binfmt_misc/kiln-qemu-...`), when we made one.
    entry: Option<PathBuf>,
    /// Whether we mounted binfmt_misc.
    mounted: bool,
    /// How target code reaches the emulator, for logs and the build report.
    pub how: String,
}

impl Binfmt {
    /// Make target binaries of `arch` runnable on this host. `None` when the host runs them
    /// natively (same arch).
    pub fn ensure(arch: &ArchInfo) -> Result<Option<BinfmtGuard>, EmulationError> {
        if !arch.is_foreign() {
            return Ok(None);
        }
        let dir = Path::new(BINFMT_DIR);
        let binfmt_err = |action| {
            move |source| EmulationError::Binfmt {
                action,
                arch: arch.name.to_string(),
                binary: arch.qemu_user.to_string(),
                source,
            }
        };
        let mut guard = BinfmtGuard {
            entry: None,
            mounted: false,
            how: String::new(),
        };
        // An ordinary user's build (a user namespace) may neither mount binfmt_misc nor
        // register in it: only an administrator's registration can serve it.
        let rootless = crate::userns::in_user_namespace();
        let was_mounted = dir.join("register").exists();
        if !was_mounted && !rootless {
            rustix::mount::mount(
                "binfmt_misc",
                dir,
                "binfmt_misc",
                rustix::mount::MountFlags::empty(),
                None,
            )
            .map_err(|e| binfmt_err("mount")(e.into()))?;
            guard.mounted = true;
            tracing::debug!("mounted binfmt_misc at {BINFMT_DIR}");
        }
        if !rootless {
            remove_stale(dir);
        }
        let (magic, mask) = arch.binfmt_magic();
        if let Some(existing) = find_registration(dir, &magic, &mask) {
            tracing::info!(
                "{} code runs through the existing binfmt registration `{}` ({})",
                arch.name,
                existing.name,
                existing.interpreter
            );
            guard.how = format!("binfmt `{}` ({})", existing.name, existing.interpreter);
            return Ok(Some(guard));
        }
        if rootless {
            return Err(EmulationError::Unregistered {
                arch: arch.name.to_string(),
                found: if was_mounted {
                    String::new()
                } else {
                    format!(" (binfmt_misc is not mounted at {BINFMT_DIR})")
                },
                debian: format!("{} binfmt-support", arch.qemu_user_pkg.0),
                fedora: arch.qemu_user_pkg.1.to_string(),
            });
        }
        let Some(emulator) = EMULATOR_DIRS
            .iter()
            .map(|d| Path::new(d).join(arch.qemu_user))
            .find(|p| p.is_file())
        else {
            // `guard` unmounts what it mounted.
            return Err(EmulationError::NoEmulator {
                arch: arch.name.to_string(),
                host: crate::arch::host().to_string(),
                binary: format!("/usr/bin/{}", arch.qemu_user),
                debian: arch.qemu_user_pkg.0.to_string(),
                fedora: arch.qemu_user_pkg.1.to_string(),
            });
        };
        let name = format!("{ENTRY_PREFIX}{}-{}", arch.name, std::process::id());
        let line = register_line(&name, &magic, &mask, &emulator);
        std::fs::write(dir.join("register"), line.as_bytes()).map_err(binfmt_err("register in"))?;
        guard.entry = Some(dir.join(&name));
        guard.how = format!("binfmt `{name}` ({})", emulator.display());
        tracing::info!("registered binfmt `{name}` -> {}", emulator.display());
        Ok(Some(guard))
    }
}

impl Drop for BinfmtGuard {
    fn drop(&mut self) {
        // The entry first: it outlives an unmount of binfmt_misc.
        if let Some(e) = self.entry.take() {
            match std::fs::write(&e, b"-1") {
                Ok(()) => tracing::debug!("removed binfmt `{}`", e.display()),
                Err(err) => tracing::warn!("cannot remove binfmt `{}`: {err}", e.display()),
            }
        }
        // Left mounted while it holds others' registrations (a build for another arch that
        // found it mounted): the last unmount drops every entry with it (seen on Linux 6.18).
        let in_use = std::fs::read_dir(BINFMT_DIR).is_ok_and(|rd| {
            rd.flatten()
                .any(|e| !matches!(e.file_name().to_str(), Some("register" | "status")))
        });
        if self.mounted && in_use {
            self.mounted = false;
            tracing::debug!("{BINFMT_DIR} left mounted: it holds other registrations");
        }
        if self.mounted {
            self.mounted = false;
            if let Err(err) =
                rustix::mount::unmount(BINFMT_DIR, rustix::mount::UnmountFlags::empty())
            {
                tracing::warn!("cannot unmount {BINFMT_DIR}: {err}");
            }
        }
    }
}

/// `:name:M:0:magic:mask:interpreter:F` with every magic and mask byte escaped.
fn register_line(name: &str, magic: &[u8], mask: &[u8], interpreter: &Path) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("\\x{x:02x}")).collect::<String>();
    format!(
        ":{name}:M:0:{}:{}:{}:F",
        hex(magic),
        hex(mask),
        interpreter.display()
    )
}

/// An entry of binfmt_misc as the kernel shows it.
#[derive(Debug, Default)]
struct Registration {
    name: String,
    enabled: bool,
    interpreter: String,
    flags: String,
    offset: u64,
    magic: Vec<u8>,
    mask: Vec<u8>,
}

fn parse_hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn parse_registration(name: &str, text: &str) -> Registration {
    let mut r = Registration {
        name: name.to_string(),
        ..Registration::default()
    };
    for line in text.lines() {
        let line = line.trim();
        if line == "enabled" {
            r.enabled = true;
        } else if let Some(v) = line.strip_prefix("interpreter ") {
            r.interpreter = v.to_string();
        } else if let Some(v) = line.strip_prefix("flags:") {
            r.flags = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("offset ") {
            r.offset = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("magic ") {
            r.magic = parse_hex(v.trim());
        } else if let Some(v) = line.strip_prefix("mask ") {
            r.mask = parse_hex(v.trim());
        }
    }
    r
}

/// An enabled registration with the `F` flag (so it works in a chroot) that catches every
/// executable our magic catches: at offset 0, it fixes no bit that we leave open, and it
/// agrees with our magic on the bits it fixes.
fn find_registration(dir: &Path, magic: &[u8], mask: &[u8]) -> Option<Registration> {
    let rd = std::fs::read_dir(dir).ok()?;
    let mut names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "register" && n != "status")
        .collect();
    names.sort();
    names.into_iter().find_map(|n| {
        let text = std::fs::read_to_string(dir.join(&n)).ok()?;
        let r = parse_registration(&n, &text);
        let their_mask = |i: usize| r.mask.get(i).copied().unwrap_or(0xff);
        let catches = r.enabled
            && r.flags.contains('F')
            && r.offset == 0
            && r.magic.len() <= magic.len()
            && !r.magic.is_empty()
            && (0..r.magic.len()).all(|i| {
                their_mask(i) & !mask[i] == 0
                    && (r.magic[i] & their_mask(i)) == (magic[i] & their_mask(i))
            });
        catches.then_some(r)
    })
}

/// Remove `kiln-qemu-*-<pid>` entries left by a kiln that was killed (SIGKILL skips the guard).
fn remove_stale(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = n
            .strip_prefix(ENTRY_PREFIX)
            .and_then(|r| r.rsplit('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            match std::fs::write(e.path(), b"-1") {
                Ok(()) => tracing::info!("removed stale binfmt `{n}` (pid {pid} is gone)"),
                Err(err) => tracing::warn!("cannot remove stale binfmt `{n}`: {err}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_line_escapes_every_byte() {
        let a = crate::arch::info("aarch64").unwrap();
        let (m, k) = a.binfmt_magic();
        let l = register_line(
            "kiln-qemu-aarch64-1",
            &m,
            &k,
            Path::new("/usr/bin/qemu-aarch64-static"),
        );
        assert!(l.starts_with(":kiln-qemu-aarch64-1:M:0:\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00"));
        assert!(l.ends_with(":/usr/bin/qemu-aarch64-static:F"));
        assert_eq!(l.matches("\\x").count(), 40);
    }

    #[test]
    fn reads_debians_registration() {
        // What the kernel shows for Debian's qemu-aarch64 entry (binfmt-support).
        let text = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\nmagic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n";
        let r = parse_registration("qemu-aarch64", text);
        assert!(r.enabled);
        assert_eq!(r.flags, "POCF");
        let (m, k) = crate::arch::info("aarch64").unwrap().binfmt_magic();
        assert_eq!(r.magic, m);
        assert_eq!(r.mask, k);
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("qemu-aarch64"), text).unwrap();
        std::fs::write(d.path().join("status"), "enabled\n").unwrap();
        assert_eq!(
            find_registration(d.path(), &m, &k).map(|r| r.name),
            Some("qemu-aarch64".to_string())
        );
        // Without F the interpreter would be looked up inside the chroot: not usable.
        std::fs::write(d.path().join("qemu-aarch64"), text.replace("POCF", "POC")).unwrap();
        assert!(find_registration(d.path(), &m, &k).is_none());
        // Another machine's entry is not ours.
        let (m2, k2) = crate::arch::info("riscv64").unwrap().binfmt_magic();
        std::fs::write(d.path().join("qemu-aarch64"), text).unwrap();
        assert!(find_registration(d.path(), &m2, &k2).is_none());
    }
}
