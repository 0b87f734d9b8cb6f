//! The sandbox every program kiln runs in a root lives in: package scriptlets and triggers,
//! chroot `%post`, dracut/grub in the root, and `kiln __shell`.
//!
//! Called by the helper as the init of its own PID namespace ([`crate::pidns`]), before the
//! program starts. It takes, in this order:
//! - private mount, network, UTS, IPC and cgroup namespaces (the PID one is already there):
//!   hostname changes, SysV IPC and network set-up stay inside. Chroot `%post` under
//!   `--post-network host` keeps the host's network namespace (livecd-creator's chroot has the
//!   host's network) and loses CAP_NET_ADMIN, so it can reach the network but not reconfigure
//!   the host's;
//! - the API filesystems beneath the root: a new /proc of the PID namespace with /proc/sys and
//!   the other kernel knobs read-only and /proc/kcore & co. masked (as container runtimes do),
//!   a new read-only sysfs (no host cgroupfs, efivarfs or debugfs below it), a tmpfs /dev with
//!   a few harmless nodes and no disks, a tmpfs /run;
//! - `pivot_root` into the root with the old root detached: unlike `chroot`, no `..` climb or
//!   second chroot leads out, and /proc/1/root is the root itself;
//! - capabilities that reach the host dropped from the bounding, permitted, effective,
//!   inheritable and ambient sets (modules, raw I/O, reboot, clock, syslog, BPF/perf,
//!   immutable flags, ptrace, handle-based opens...): not even a setuid program gets them back.
//!   What scriptlets need stays: chown, setuid/setgid, DAC override, SYS_ADMIN (security.*
//!   xattrs), SETFCAP (setcap), MKNOD (dracut's /dev nodes);
//! - a seccomp filter: everything that mounts or unmounts (a new /proc, devtmpfs or a disk, or
//!   umount of the read-only overlays would undo the above), kexec, modules, reboot, swap,
//!   clock, keyrings, BPF, perf, fanotify, open_by_handle_at, block-device nodes and character
//!   nodes other than dracut's few, and the ioctls that inject terminal input (TIOCSTI,
//!   TIOCLINUX) or freeze the host's file system (FIFREEZE) fail with EPERM.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rustix::mount::{mount, mount_bind, mount_remount, MountFlags, MountPropagationFlags};

/// A step of entering the sandbox that failed; the script does not run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SandboxError {
    /// A namespace, mount, pivot or capability call failed.
    #[error("cannot {step}: {reason}")]
    Step {
        /// What was being done ("mount /proc").
        step: String,
        /// The OS's reason.
        reason: std::io::Error,
    },
    /// kiln leaked an open directory into the helper.
    #[error(
        "an open directory (fd {fd}, `{}`) was inherited from kiln; refusing to run a script \
         with a way out of its root",
        target.display()
    )]
    InheritedDirectory {
        /// The descriptor.
        fd: u32,
        /// The directory it names.
        target: PathBuf,
    },
    /// seccompiler cannot compile the filter.
    #[error("cannot build the seccomp filter: {0}")]
    SeccompBuild(seccompiler::BackendError),
    /// The kernel refused the filter.
    #[error("cannot apply the seccomp filter: {0}")]
    SeccompApply(seccompiler::Error),
}

/// A `map_err` adapter: the failure of `step` (a verb phrase).
fn step<E: Into<std::io::Error>>(step: impl Into<String>) -> impl FnOnce(E) -> SandboxError {
    let step = step.into();
    move |e| SandboxError::Step {
        step,
        reason: e.into(),
    }
}

/// Who is inside: scriptlets get no terminal; the interactive shell keeps the user's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Occupant {
    /// A scriptlet, `%post` or a tool run in the root.
    Script,
    /// Chroot `%post` with the host's network.
    NetworkedScript,
    /// `kiln __shell`.
    Shell,
}

/// Enter the sandbox at `root` (see the module doc). On success the process's root and cwd
/// are the root's `/`.
pub(crate) fn enter(root: &Path, who: Occupant) -> Result<(), SandboxError> {
    check_inherited_fds()?;
    unshare_namespaces(who != Occupant::NetworkedScript)?;
    let root = root
        .canonicalize()
        .map_err(step(format!("resolve the root `{}`", root.display())))?;
    // pivot_root needs the new root to be a mount point; recursive, so that whatever kiln
    // mounted beneath the root stays visible.
    rustix::mount::mount_bind_recursive(&root, &root).map_err(step(format!(
        "bind the root `{}` onto itself",
        root.display()
    )))?;
    api_filesystems(&root, who)?;
    if crate::userns::in_user_namespace() {
        mknod_stand_in(&root)?;
    }
    pivot(&root)?;
    drop_capabilities(who == Occupant::NetworkedScript)?;
    install_seccomp_filter()
}

/// A directory inherited from kiln would be a way out that no mount namespace closes
/// (`openat(fd, "..")`): refuse to go on rather than hope. kiln opens everything close-on-exec.
fn check_inherited_fds() -> Result<(), SandboxError> {
    let fds: Vec<u32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(d) => d
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => return Ok(()),
    };
    for fd in fds.into_iter().filter(|fd| *fd > 2) {
        let link = format!("/proc/self/fd/{fd}");
        // The read_dir's own fd is closed by now: it fails to stat and is skipped.
        if std::fs::metadata(&link).is_ok_and(|m| m.is_dir()) {
            let to = std::fs::read_link(&link).unwrap_or_default();
            return Err(SandboxError::InheritedDirectory { fd, target: to });
        }
    }
    Ok(())
}

fn unshare_namespaces(own_network: bool) -> Result<(), SandboxError> {
    use rustix::thread::UnshareFlags;
    let mut flags = UnshareFlags::NEWNS | UnshareFlags::NEWUTS | UnshareFlags::NEWIPC;
    if own_network {
        flags |= UnshareFlags::NEWNET;
    }
    // rustix deprecates the safe `unshare` because CLONE_FILES/CLONE_FS can invalidate fds
    // other threads hold; new namespaces in this single-threaded helper cannot.
    #[allow(deprecated)]
    rustix::thread::unshare(flags)
        .map_err(step("unshare the mount, network, UTS and IPC namespaces"))?;
    // Not every kernel has cgroup namespaces; nothing depends on it (no cgroupfs is mounted).
    #[allow(deprecated)]
    let _ = rustix::thread::unshare(UnshareFlags::NEWCGROUP);
    // Nothing mounted below may propagate back to the host.
    rustix::mount::mount_change(
        "/",
        MountPropagationFlags::REC | MountPropagationFlags::PRIVATE,
    )
    .map_err(step("make the mounts private"))
}

/// Only mount on real directories: a symlink planted by a package must not redirect a mount.
fn real_dir(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_dir())
}

fn api_filesystems(root: &Path, who: Occupant) -> Result<(), SandboxError> {
    let hardened = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    let proc_dir = root.join("proc");
    if real_dir(&proc_dir) {
        mount("proc", &proc_dir, "proc", hardened, None).map_err(step("mount /proc"))?;
        protect_proc(&proc_dir)?;
    }
    let sys_dir = root.join("sys");
    if real_dir(&sys_dir) {
        // A new instance (of this network namespace), not a bind of the host's: the host's
        // has cgroupfs, efivarfs, debugfs... mounted read-write below it.
        let fresh = mount(
            "sysfs",
            &sys_dir,
            "sysfs",
            hardened | MountFlags::RDONLY,
            None,
        );
        match fresh {
            // A user namespace may mount sysfs only in a network namespace it owns, which
            // `%post --network host` leaves: bind the host's instead. As an ordinary user the
            // host's /sys gives a script nothing the user could not already read or write.
            Err(rustix::io::Errno::PERM) if crate::userns::in_user_namespace() => {
                rustix::mount::mount_bind_recursive("/sys", &sys_dir)
                    .map_err(step("bind the host's /sys"))?;
                let _ = mount_remount(
                    &sys_dir,
                    MountFlags::BIND | MountFlags::RDONLY | hardened,
                    "",
                );
            }
            r => r.map_err(step("mount /sys"))?,
        }
    }
    let dev_dir = root.join("dev");
    if real_dir(&dev_dir) {
        // A private /dev with the usual harmless nodes, so scriptlets cannot touch host disks.
        mount(
            "tmpfs",
            &dev_dir,
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NOEXEC,
            Some(c"mode=0755"),
        )
        .map_err(step("mount a tmpfs on /dev"))?;
        let mut nodes = vec!["null", "zero", "full", "random", "urandom"];
        // /dev/tty is kiln's terminal: the shell's user's, no business of a scriptlet's.
        if who == Occupant::Shell {
            nodes.push("tty");
        }
        for node in nodes {
            let target = dev_dir.join(node);
            if std::fs::File::create(&target).is_ok() {
                mount_bind(Path::new("/dev").join(node), &target)
                    .map_err(step(format!("bind /dev/{node}")))?;
            }
        }
        for (name, to) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            let _ = std::os::unix::fs::symlink(to, dev_dir.join(name));
        }
        for d in ["shm", "pts"] {
            let _ = std::fs::create_dir(dev_dir.join(d));
        }
    }
    let run_dir = root.join("run");
    if real_dir(&run_dir) {
        mount(
            "tmpfs",
            &run_dir,
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV,
            Some(c"mode=0755"),
        )
        .map_err(step("mount a tmpfs on /run"))?;
    }
    Ok(())
}

/// A user namespace may not make device nodes: the root's mknod(1) is covered, for this run
/// only, by kiln's stand-in ([`crate::attrs::MKNOD_STAND_IN`]), which leaves placeholders and
/// logs the nodes for the writers (dracut makes /dev/console & co. in its staging tree so).
/// Skipped when the root has no mknod, no shell or no /run of its own.
fn mknod_stand_in(root: &Path) -> Result<(), SandboxError> {
    let is_file = |rel: &str| {
        std::fs::symlink_metadata(root.join(rel)).is_ok_and(|m| m.file_type().is_file())
    };
    let Some(sh) = ["usr/bin/sh", "bin/sh", "usr/bin/dash", "usr/bin/bash"]
        .into_iter()
        .find(|p| std::fs::symlink_metadata(root.join(p)).is_ok())
    else {
        return Ok(());
    };
    if !real_dir(&root.join("run")) {
        return Ok(());
    }
    let script = root.join(crate::attrs::MKNOD_STAND_IN_PATH.trim_start_matches('/'));
    for target in ["usr/bin/mknod", "bin/mknod"]
        .into_iter()
        .filter(|t| is_file(t))
    {
        if !script.exists() {
            std::fs::write(&script, crate::attrs::mknod_stand_in(&format!("/{sh}")))
                .map_err(step("write the mknod stand-in"))?;
            std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .map_err(step("make the mknod stand-in executable"))?;
        }
        mount_bind(&script, root.join(target))
            .map_err(step(format!("bind the mknod stand-in over /{target}")))?;
    }
    Ok(())
}

/// What of /proc reaches the host kernel: the knobs read-only, the leaks masked (the list
/// container runtimes use).
fn protect_proc(proc_dir: &Path) -> Result<(), SandboxError> {
    for name in ["sys", "sysrq-trigger", "irq", "bus", "fs"] {
        let p = proc_dir.join(name);
        if std::fs::symlink_metadata(&p).is_err() {
            continue;
        }
        mount_bind(&p, &p).map_err(step(format!("bind /proc/{name}")))?;
        mount_remount(
            &p,
            MountFlags::BIND
                | MountFlags::RDONLY
                | MountFlags::NOSUID
                | MountFlags::NODEV
                | MountFlags::NOEXEC,
            "",
        )
        .map_err(step(format!("make /proc/{name} read-only")))?;
    }
    for name in [
        "kcore",
        "keys",
        "timer_list",
        "sched_debug",
        "latency_stats",
        "acpi",
        "scsi",
    ] {
        let p = proc_dir.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let r = if meta.is_dir() {
            mount("tmpfs", &p, "tmpfs", MountFlags::RDONLY, Some(c"size=0"))
        } else {
            mount_bind("/dev/null", &p)
        };
        r.map_err(step(format!("mask /proc/{name}")))?;
    }
    Ok(())
}

/// Make `root` the process's root and detach the old one: no host path is reachable after.
fn pivot(root: &Path) -> Result<(), SandboxError> {
    std::env::set_current_dir(root).map_err(step(format!("chdir to `{}`", root.display())))?;
    // `pivot_root(".", ".")` stacks the old root on the new one; detaching it leaves the new
    // root alone, with no directory of its own needed to park the old one.
    rustix::process::pivot_root(".", ".")
        .map_err(step(format!("pivot_root to `{}`", root.display())))?;
    rustix::mount::unmount(".", rustix::mount::UnmountFlags::DETACH)
        .map_err(step("detach the old root"))?;
    std::env::set_current_dir("/").map_err(step("chdir to / in the root"))
}

/// Capabilities whose use reaches beyond the root: the kernel (modules, raw I/O, kexec via
/// SYS_BOOT, BPF, perf), the host's clock and logs, other processes (ptrace), handle-based
/// opens of any host file (DAC_READ_SEARCH), files a cleanup cannot remove (LINUX_IMMUTABLE),
/// audit and MAC policy.
fn dropped() -> rustix::thread::CapabilitySet {
    use rustix::thread::CapabilitySet as C;
    C::SYS_MODULE
        | C::SYS_RAWIO
        | C::SYS_BOOT
        | C::SYS_TIME
        | C::SYS_PACCT
        | C::SYS_PTRACE
        | C::SYS_TTY_CONFIG
        | C::SYSLOG
        | C::DAC_READ_SEARCH
        | C::LINUX_IMMUTABLE
        | C::MAC_ADMIN
        | C::MAC_OVERRIDE
        | C::WAKE_ALARM
        | C::BLOCK_SUSPEND
        | C::AUDIT_CONTROL
        | C::AUDIT_READ
        | C::PERFMON
        | C::BPF
        | C::CHECKPOINT_RESTORE
}

/// With the host's network namespace, also what reconfigures it (interfaces, routes,
/// firewall).
fn drop_capabilities(host_network: bool) -> Result<(), SandboxError> {
    use rustix::thread::CapabilitySet;
    let mut drop = dropped();
    if host_network {
        drop |= CapabilitySet::NET_ADMIN;
    }
    for bit in 0..64 {
        let cap = CapabilitySet::from_bits_retain(1 << bit);
        if !drop.contains(cap) {
            continue;
        }
        match rustix::thread::remove_capability_from_bounding_set(cap) {
            // EINVAL: a capability this kernel does not know; nothing to drop.
            Ok(()) | Err(rustix::io::Errno::INVAL) => {}
            Err(e) => return Err(step(format!("drop {cap:?} from the bounding set"))(e)),
        }
    }
    let mut sets = rustix::thread::capabilities(None).map_err(step("read the capabilities"))?;
    sets.effective &= !drop;
    sets.permitted &= !drop;
    sets.inheritable = CapabilitySet::empty();
    rustix::thread::set_capabilities(None, sets).map_err(step("set the capabilities"))?;
    // Kernels before 4.3 have no ambient set.
    let _ = rustix::thread::clear_ambient_capability_set();
    Ok(())
}

/// Character devices scriptlets may create: what dracut makes in an initramfs (`/dev/null`,
/// `kmsg`, `console`, `random`, `urandom`), their kin, and overlayfs's whiteout (0:0).
/// Encoded as the kernel's `new_encode_dev` (what glibc passes for small numbers).
const ALLOWED_CHAR_DEVICES: [(u32, u32); 8] = [
    (0, 0),
    (1, 3),
    (1, 5),
    (1, 7),
    (1, 8),
    (1, 9),
    (1, 11),
    (5, 1),
];

fn encode_dev(major: u32, minor: u32) -> u64 {
    u64::from((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12))
}

/// The syscalls that fail outright (see the module doc).
fn denied_syscalls() -> Vec<i64> {
    let mut v = vec![
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_move_mount,
        libc::SYS_open_tree,
        libc::SYS_mount_setattr,
        libc::SYS_open_by_handle_at,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_fanotify_init,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_reboot,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_quotactl_fd,
        libc::SYS_syslog,
        libc::SYS_vhangup,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([
        libc::SYS_iopl,
        libc::SYS_ioperm,
        libc::SYS_uselib,
        libc::SYS__sysctl,
        libc::SYS_lookup_dcookie,
    ]);
    v
}

/// TIOCSTI and TIOCLINUX push input into a terminal (the user's shell, the host console);
/// FIFREEZE stops every writer of the file system the root lives on.
const DENIED_IOCTLS: [u64; 3] = [0x5412, 0x541C, 0xC004_5877];

fn install_seccomp_filter() -> Result<(), SandboxError> {
    let Some(program) = seccomp_program()? else {
        return Ok(());
    };
    // Also sets no_new_privs: as root that changes nothing but SELinux transitions.
    seccompiler::apply_filter(&program).map_err(SandboxError::SeccompApply)
}

/// The filter as BPF; `None` where seccompiler does not know the host arch.
fn seccomp_program() -> Result<Option<seccompiler::BpfProgram>, SandboxError> {
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition as Cond,
        SeccompFilter, SeccompRule, TargetArch,
    };
    let Ok(arch) = TargetArch::try_from(std::env::consts::ARCH) else {
        // seccompiler knows x86_64, aarch64 and riscv64; elsewhere the namespaces and
        // capabilities are the sandbox.
        tracing::debug!("no seccomp filter on {}", std::env::consts::ARCH);
        return Ok(None);
    };
    let cond = |arg: u8, op: Op, value: u64| Cond::new(arg, Len::Dword, op, value);
    let err = SandboxError::SeccompBuild;
    // mknod(path, mode, dev) / mknodat(dirfd, path, mode, dev): block devices never; character
    // devices only from the list.
    let mknod_rules = |mode_arg: u8| -> Result<Vec<SeccompRule>, SandboxError> {
        let ifmt = u64::from(libc::S_IFMT);
        let block = SeccompRule::new(vec![cond(
            mode_arg,
            Op::MaskedEq(ifmt),
            u64::from(libc::S_IFBLK),
        )
        .map_err(err)?])
        .map_err(err)?;
        let mut chr =
            vec![cond(mode_arg, Op::MaskedEq(ifmt), u64::from(libc::S_IFCHR)).map_err(err)?];
        for (major, minor) in ALLOWED_CHAR_DEVICES {
            chr.push(cond(mode_arg + 1, Op::Ne, encode_dev(major, minor)).map_err(err)?);
        }
        Ok(vec![block, SeccompRule::new(chr).map_err(err)?])
    };
    let ioctl_rules = || -> Result<Vec<SeccompRule>, SandboxError> {
        DENIED_IOCTLS
            .iter()
            .map(|&req| SeccompRule::new(vec![cond(1, Op::Eq, req).map_err(err)?]).map_err(err))
            .collect()
    };
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for nr in denied_syscalls() {
        rules.insert(nr, Vec::new());
    }
    rules.insert(libc::SYS_mknodat, mknod_rules(2)?);
    rules.insert(libc::SYS_ioctl, ioctl_rules()?);
    #[cfg(target_arch = "x86_64")]
    {
        rules.insert(libc::SYS_mknod, mknod_rules(1)?);
        // The x32 ABI (where the kernel has it) passes the same architecture with bit 30 set
        // in the number: the same calls under those numbers (x32's own ioctl is 514).
        const X32: i64 = 0x4000_0000;
        let x32: Vec<(i64, Vec<SeccompRule>)> = rules
            .iter()
            .filter(|(nr, _)| **nr != libc::SYS_ioctl)
            .map(|(nr, r)| (nr | X32, r.clone()))
            .collect();
        rules.extend(x32);
        rules.insert(X32 | 514, ioctl_rules()?);
    }
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(err)?;
    filter.try_into().map(Some).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_numbers_encode_as_glibc_passes_them() {
        assert_eq!(encode_dev(1, 3), 0x103);
        assert_eq!(encode_dev(5, 1), 0x501);
        // Minor's high bits go above bit 20, major's low 12 bits in bits 8-19.
        assert_eq!(encode_dev(259, 300), 0x11_032c);
    }

    #[test]
    fn the_filter_compiles_for_this_arch() {
        let p = seccomp_program().unwrap();
        if std::env::consts::ARCH == "x86_64" {
            let p = p.expect("a filter on x86_64");
            // BPF's limit.
            assert!(p.len() < 4096, "{}", p.len());
        }
    }
}
