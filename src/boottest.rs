//! `kiln boot-test`: boot an image headless in qemu and wait for a line on the serial console.
//!
//! KVM is used only when a probe shows it really runs firmware: on some hosts /dev/kvm exists
//! but OVMF and ISOLINUX die under it (PLATFORM.md), so the default is a probe, then TCG.
//! With `secure_boot` the firmware enforces Secure Boot (Microsoft keys, as on PCs), and a
//! refusal by the firmware or shim on the console ends the boot at once.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::arch::{ArchInfo, CdromBus};
use crate::error::IoError;
use crate::fsutil::which;

/// `apt-get install X (Fedora: Y)` from a (Debian, Fedora) pair of the arch table.
fn pkg_hint((debian, fedora): (&str, &str)) -> String {
    if debian.is_empty() {
        "no packaged firmware is known for this arch".into()
    } else {
        format!("apt-get install {debian} (Fedora: dnf install {fedora})")
    }
}

/// Firmware to boot with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// SeaBIOS (x86 only).
    Bios,
    /// OVMF / AAVMF / EDK2 in flash, or U-Boot's EFI ([`ArchInfo::uefi_kernel`]).
    Uefi,
}

/// How the image is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// As a CD-ROM (El Torito).
    Cdrom,
    /// As a USB stick (the hybrid MBR/GPT path).
    Disk,
    /// As a virtio hard disk, raw or qcow2, writes going to a temporary snapshot.
    Hd,
}

/// A network boot tree (`kiln build --make-pxe-live`, `iso-to-pxeboot`, `iso-to-netroot`).
#[derive(Debug, Clone)]
pub struct NetBoot {
    /// The TFTP root (holds pxelinux.0).
    pub tftp: PathBuf,
    /// The netroot tree's nbd-server config, served on 127.0.0.1 during the boot.
    pub nbd_conf: Option<PathBuf>,
}

impl NetBoot {
    /// The tree at `dir`, if it is one: a PXE tree (pxelinux.0 in it) or a netroot tree
    /// (tftp/pxelinux.0 and images/nbd.conf).
    pub fn detect(dir: &Path) -> Option<NetBoot> {
        if dir.join("pxelinux.0").is_file() {
            return Some(NetBoot {
                tftp: dir.to_path_buf(),
                nbd_conf: None,
            });
        }
        if dir.join("tftp/pxelinux.0").is_file() {
            let conf = dir.join("images/nbd.conf");
            return Some(NetBoot {
                tftp: dir.join("tftp"),
                nbd_conf: conf.is_file().then_some(conf),
            });
        }
        None
    }
}

/// The NBD port the netroot kernel arguments use (nbd-client's default).
pub const NBD_PORT: u16 = 10809;

/// An nbd-server kiln started (daemonized, known by its pid file): ended on drop.
struct NbdServer {
    pid: i32,
}

impl NbdServer {
    /// Start Debian's nbd-server on 127.0.0.1 with the exports of `conf`.
    fn start(conf: &Path, work: &Path) -> Result<NbdServer, BootTestError> {
        let bin = which("nbd-server").ok_or_else(|| BootTestError::Missing {
            what: "`nbd-server`".into(),
            hint: Some("apt-get install nbd-server (Fedora: dnf install nbd)".into()),
        })?;
        if std::net::TcpStream::connect(("127.0.0.1", NBD_PORT)).is_ok() {
            return Err(IoError::new(
                "listen on",
                format!("127.0.0.1:{NBD_PORT}"),
                std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another NBD server already listens there",
                ),
            )
            .into());
        }
        let text = std::fs::read_to_string(conf).map_err(IoError::at("read", conf))?;
        // The tree's exports under our own [generic]: loopback only, the default port.
        let mut mine = format!(
            "[generic]
  listenaddr = 127.0.0.1
  port = {NBD_PORT}
"
        );
        let mut generic = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with('[') {
                generic = t == "[generic]";
            }
            if !generic {
                mine.push_str(line);
                mine.push('\n');
            }
        }
        let my_conf = work.join("nbd.conf");
        let pid_file = work.join("nbd-server.pid");
        std::fs::write(&my_conf, mine).map_err(IoError::at("write", &my_conf))?;
        let out = Command::new(&bin)
            .arg("-C")
            .arg(&my_conf)
            .arg("-p")
            .arg(&pid_file)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| BootTestError::Spawn {
                cmd: format!("{} -C {}", bin.display(), my_conf.display()),
                source,
            })?;
        let not_started = || BootTestError::Missing {
            what: "a listening nbd-server".into(),
            hint: Some(format!(
                "nbd-server did not start: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )),
        };
        // It forks into the background; the parent's status says whether the config was good.
        if !out.status.success() {
            return Err(not_started());
        }
        let started = Instant::now();
        // The guard lives across the polls: it writes its pid file before it listens, and a
        // guard dropped after one failed connect would kill the server it waits for (seen
        // under load).
        let mut srv: Option<NbdServer> = None;
        loop {
            if srv.is_none() {
                srv = std::fs::read_to_string(&pid_file)
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok())
                    .map(|pid| NbdServer { pid });
            }
            if let Some(s) = srv.take() {
                if std::net::TcpStream::connect(("127.0.0.1", NBD_PORT)).is_ok() {
                    tracing::debug!("nbd-server (pid {}) listens on 127.0.0.1:{NBD_PORT}", s.pid);
                    return Ok(s);
                }
                srv = Some(s);
            }
            if started.elapsed() > Duration::from_secs(10) {
                // Stops the server if it started but never listened.
                drop(srv);
                return Err(not_started());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for NbdServer {
    fn drop(&mut self) {
        use rustix::process::{kill_process, Pid, Signal};
        let Some(pid) = Pid::from_raw(self.pid) else {
            return;
        };
        let _ = kill_process(pid, Signal::TERM);
        let gone = || !Path::new(&format!("/proc/{}", self.pid)).exists();
        for _ in 0..50 {
            if gone() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = kill_process(pid, Signal::KILL);
    }
}

/// Accelerator choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Probe KVM, fall back to TCG.
    Auto,
    /// Always TCG.
    Tcg,
    /// Always KVM.
    Kvm,
}

/// A boot test.
#[derive(Debug, Clone)]
pub struct BootTest {
    /// The image.
    pub image: PathBuf,
    /// Target arch facts.
    pub arch: &'static ArchInfo,
    /// Firmware.
    pub firmware: Firmware,
    /// Attachment.
    pub attach: Attach,
    /// Give up after this long.
    pub timeout: Duration,
    /// Success when a serial line matches.
    pub expect: regex::Regex,
    /// Guest memory in MiB.
    pub memory_mb: u32,
    /// Press Enter at the boot menu's countdown ([`menu_counting_down`]) instead of waiting
    /// it out: the default entry starts either way.
    pub menu_enter: bool,
    /// Where the serial log goes.
    pub serial_log: PathBuf,
    /// Accelerator.
    pub accel: Accel,
    /// Boot from this network tree instead of `image` (qemu's TFTP, BIOS pxelinux).
    pub net: Option<NetBoot>,
    /// UEFI firmware that enforces Secure Boot with Microsoft's keys enrolled
    /// ([`crate::arch::SecureBootFirmware`]): only a chain of signed loaders starts.
    pub secure_boot: bool,
}

/// The result of a boot test.
#[derive(Debug, Clone)]
pub struct BootOutcome {
    /// Whether the expected line appeared.
    pub success: bool,
    /// The matching line, when found.
    pub matched: Option<String>,
    /// The serial log's content.
    pub log: String,
    /// How long it took.
    pub elapsed: Duration,
    /// Accelerator used.
    pub accel: &'static str,
    /// Why it failed, when it did.
    pub reason: Option<String>,
    /// What the guest's kernel said of Secure Boot ([`kernel_secure_boot`]).
    pub kernel_secure_boot: Option<bool>,
    /// The line where the firmware or shim refused an unsigned or untrusted image.
    pub refused: Option<String>,
    /// How many times the guest was started again after a TCG stall ([`console_stalled`]).
    pub restarts: u32,
}

/// What a Linux kernel logged on the console about Secure Boot: `Some(true)` for
/// "secureboot: Secure boot enabled", `Some(false)` for "... disabled", `None` when it said
/// neither (another OS, a quiet console, or firmware that could not tell it).
pub fn kernel_secure_boot(log: &str) -> Option<bool> {
    log.lines().find_map(|l| {
        if l.contains("secureboot: Secure boot enabled") {
            Some(true)
        } else if l.contains("secureboot: Secure boot disabled") {
            Some(false)
        } else {
            None
        }
    })
}

/// The console line where Secure Boot refused an image: shim's "Verification failed: (0x1A)
/// Security Violation" for a loader it cannot verify, the firmware's "Access Denied" for an
/// unsigned first stage.
pub fn secure_boot_refusal(log: &str) -> Option<String> {
    // The message is the stretch of its line between escape sequences and drawing characters
    // (shim draws its error in a box: one console line of cursor moves).
    ["Verification failed", "Security Violation", "Access Denied"]
        .iter()
        .find_map(|m| {
            log.lines().find_map(|line| {
                line.split(|c: char| c.is_control() || c == char::REPLACEMENT_CHARACTER)
                    .find(|part| part.contains(m))
                    .map(|part| part.trim().to_string())
            })
        })
}

/// Errors that prevent a boot test from starting.
#[derive(Debug, thiserror::Error)]
pub enum BootTestError {
    /// The image is missing.
    #[error("image `{0}` not found")]
    NoImage(String),
    /// A tool or firmware file is missing.
    #[error("{what} not found{}", hint.as_deref().map(|h| format!("\nhint: {h}")).unwrap_or_default())]
    Missing {
        /// What is missing.
        what: String,
        /// How to get it.
        hint: Option<String>,
    },
    /// BIOS requested for an arch without it.
    #[error("{0} has no BIOS firmware: use --firmware uefi")]
    NoBios(String),
    /// qemu failed to start.
    #[error("failed to start `{cmd}`")]
    Spawn {
        /// The command.
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    /// A file-system call on the work files failed.
    #[error(transparent)]
    Io(#[from] IoError),
}

/// Whether a boot menu counts down on the console: GRUB's "The highlighted entry will be
/// executed automatically in 9s." or SYSLINUX menu.c32's "Automatic boot in 10 seconds".
fn menu_counting_down(log: &str) -> bool {
    log.contains("executed automatically in") || log.contains("Automatic boot in")
}

/// `-cpu MODEL` for `accel` ("tcg" or "kvm"), when the arch names one.
fn cpu_args(arch: &ArchInfo, accel: &str) -> Vec<String> {
    match arch.qemu_cpu {
        Some(cpu) => vec![
            "-cpu".into(),
            (if accel == "kvm" { cpu.kvm } else { cpu.tcg }).into(),
        ],
        None => Vec::new(),
    }
}

/// The firmware code and variable-store template: the Secure Boot pair with `secure_boot`.
fn firmware_files(arch: &ArchInfo, secure_boot: bool) -> Option<(PathBuf, PathBuf)> {
    let pairs = if secure_boot {
        arch.secure_boot.map(|s| s.firmware).unwrap_or(&[])
    } else {
        arch.uefi_firmware
    };
    pairs
        .iter()
        .map(|(c, v)| (PathBuf::from(c), PathBuf::from(v)))
        .find(|(c, v)| c.is_file() && v.is_file())
}

/// UEFI firmware qemu starts as the kernel (U-Boot), when the arch has one installed; never
/// for Secure Boot, which U-Boot does not enforce with Microsoft's keys.
fn uefi_kernel(arch: &ArchInfo, secure_boot: bool) -> Option<PathBuf> {
    if secure_boot {
        return None;
    }
    arch.uefi_kernel
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Kills qemu when the test ends, however it ends.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl BootTest {
    /// The firmware files this test boots with, or why there are none.
    fn firmware(&self) -> Result<(PathBuf, PathBuf), BootTestError> {
        firmware_files(self.arch, self.secure_boot).ok_or_else(|| BootTestError::Missing {
            what: format!(
                "{}UEFI firmware for {}",
                if self.secure_boot {
                    "Secure Boot (Microsoft keys enrolled) "
                } else {
                    ""
                },
                self.arch.name
            ),
            hint: Some(if self.secure_boot && self.arch.secure_boot.is_none() {
                format!("kiln knows no Secure Boot firmware for {}", self.arch.name)
            } else {
                pkg_hint(self.arch.uefi_firmware_pkg)
            }),
        })
    }

    fn qemu_args(&self, accel: &str, vars: Option<&Path>) -> Result<Vec<String>, BootTestError> {
        let machine = match (self.secure_boot, self.arch.secure_boot) {
            (true, Some(sb)) => sb.qemu_machine,
            _ => self.arch.qemu_machine,
        };
        let mut a: Vec<String> = machine.iter().map(|s| s.to_string()).collect();
        a.extend(cpu_args(self.arch, accel));
        a.extend(
            [
                "-accel",
                accel,
                "-m",
                &self.memory_mb.to_string(),
                "-smp",
                &self.arch.qemu_cpus.to_string(),
                "-display",
                "none",
                "-monitor",
                "none",
                "-no-reboot",
                "-nodefaults",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        // The console on qemu's stdin and stdout: boot-test copies what the guest prints into
        // the serial log and can answer the boot menu.
        a.push("-chardev".into());
        a.push("stdio,id=kiln-serial,signal=off".into());
        a.push("-serial".into());
        a.push("chardev:kiln-serial".into());
        if self.arch.builtin_firmware.is_some() {
            // The machine's own firmware (SLOF on pseries): nothing to name.
        } else if let Some(k) = (self.firmware == Firmware::Uefi)
            .then(|| uefi_kernel(self.arch, self.secure_boot))
            .flatten()
        {
            // OpenSBI (qemu's default -bios) starts it in S-mode.
            a.push("-kernel".into());
            a.push(k.display().to_string());
        } else if self.firmware == Firmware::Uefi {
            let (code, _) = self.firmware()?;
            a.push("-drive".into());
            a.push(format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={}",
                code.display()
            ));
            if let Some(v) = vars {
                a.push("-drive".into());
                a.push(format!("if=pflash,format=raw,unit=1,file={}", v.display()));
            }
        } else if self.arch.grub_bios_target.is_none() && self.arch.efi_boot_file.is_some() {
            // An arch with neither BIOS nor UEFI boots through the machine's own firmware
            // (s390x: s390-ccw IPLs the El Torito image).
            return Err(BootTestError::NoBios(self.arch.name.to_string()));
        }
        // A display-less VGA keeps SeaBIOS and OVMF happy on x86; virt has none.
        if self.arch.qemu_vga {
            a.extend(["-vga", "std"].map(String::from));
        }
        let img = self.image.display().to_string();
        if let Some(n) = &self.net {
            if self.firmware == Firmware::Uefi {
                return Err(BootTestError::NoBios(
                    "a PXE tree (pxelinux) needs BIOS firmware, and".into(),
                ));
            }
            // qemu's user network with its built-in TFTP server, as a PXE server would be.
            a.push("-netdev".into());
            a.push(format!(
                "user,id=n0,tftp={},bootfile=pxelinux.0",
                n.tftp.display()
            ));
            a.extend(["-device", "virtio-net-pci,netdev=n0,bootindex=0"].map(String::from));
            a.extend(["-device", "virtio-rng-pci"].map(String::from));
            return Ok(a);
        }
        match (self.attach, self.arch.qemu_cdrom) {
            (Attach::Hd, _) => {
                let mut magic = [0u8; 4];
                let qcow2 = std::fs::File::open(&self.image)
                    .and_then(|mut f| f.read_exact(&mut magic))
                    .is_ok()
                    && &magic == b"QFI\xfb";
                a.push("-drive".into());
                a.push(format!(
                    "if=none,id=hd0,format={},file={img},snapshot=on",
                    if qcow2 { "qcow2" } else { "raw" }
                ));
                a.push("-device".into());
                a.push(format!(
                    "virtio-blk-{},drive=hd0,bootindex=0",
                    self.arch.qemu_cdrom.virtio_transport()
                ));
            }
            (Attach::Cdrom, CdromBus::Ide) => {
                a.push("-drive".into());
                a.push(format!("file={img},media=cdrom,if=ide,index=2,readonly=on"));
            }
            (Attach::Cdrom, bus @ (CdromBus::VirtioScsi | CdromBus::VirtioScsiCcw)) => {
                a.push("-device".into());
                a.push(format!("virtio-scsi-{},id=scsi0", bus.virtio_transport()));
                a.push("-drive".into());
                a.push(format!("if=none,id=cd0,file={img},media=cdrom,readonly=on"));
                a.extend(["-device", "scsi-cd,drive=cd0,bootindex=0"].map(String::from));
            }
            (Attach::Cdrom, CdromBus::VirtioBlk) => {
                a.push("-drive".into());
                a.push(format!("if=none,id=cd0,format=raw,file={img},readonly=on"));
                a.extend(["-device", "virtio-blk-pci,drive=cd0,bootindex=0"].map(String::from));
            }
            (Attach::Disk, _) => {
                // A USB stick, the way people boot hybrid ISOs.
                a.extend(["-device", "qemu-xhci,id=xhci"].map(String::from));
                a.push("-drive".into());
                a.push(format!(
                    "if=none,id=stick,format=raw,file={img},readonly=on"
                ));
                a.extend(
                    ["-device", "usb-storage,bus=xhci.0,drive=stick,bootindex=0"].map(String::from),
                );
            }
        }
        // Entropy, so the live system does not stall at boot waiting for it.
        a.push("-device".into());
        a.push(format!(
            "virtio-rng-{}",
            self.arch.qemu_cdrom.virtio_transport()
        ));
        Ok(a)
    }

    /// Run the test. A guest that stalls ([`console_stalled`]) is started again, once: under
    /// TCG on a loaded host a vCPU's timer wakeup can be lost for good, which no waiting mends.
    pub fn run(&self) -> Result<BootOutcome, BootTestError> {
        let mut restarts = 0;
        loop {
            let (mut outcome, stalled) = self.attempt()?;
            if stalled && restarts < MAX_STALL_RESTARTS {
                restarts += 1;
                let kept = self.serial_log.with_extension("stalled.log");
                let _ = std::fs::write(&kept, &outcome.log);
                tracing::warn!(
                    "boot test: {}; starting the guest again (its console is kept in {})",
                    outcome.reason.as_deref().unwrap_or("the guest stalled"),
                    kept.display()
                );
                continue;
            }
            outcome.restarts = restarts;
            return Ok(outcome);
        }
    }

    /// One boot; `true` beside the outcome when the guest stalled and another try may pass.
    fn attempt(&self) -> Result<(BootOutcome, bool), BootTestError> {
        if self.net.is_none() && !self.image.is_file() {
            return Err(BootTestError::NoImage(self.image.display().to_string()));
        }
        let qemu = which(self.arch.qemu_system).ok_or_else(|| BootTestError::Missing {
            what: format!("`{}`", self.arch.qemu_system),
            hint: Some(pkg_hint(self.arch.qemu_system_pkg)),
        })?;
        if self.secure_boot && self.firmware != Firmware::Uefi {
            return Err(BootTestError::NoBios(
                "Secure Boot is UEFI's: use --firmware uefi; BIOS".into(),
            ));
        }
        let accel = self.choose_accel(&qemu);
        let work = tempdir_near(&self.serial_log)?;
        let vars = if self.firmware == Firmware::Uefi
            && self.arch.builtin_firmware.is_none()
            && uefi_kernel(self.arch, self.secure_boot).is_none()
        {
            let (_, tmpl) = self.firmware()?;
            let v = work.join("vars.fd");
            std::fs::copy(&tmpl, &v).map_err(IoError::at("copy the UEFI variable store to", &v))?;
            Some(v)
        } else {
            None
        };
        let _ = std::fs::remove_file(&self.serial_log);
        let args = self.qemu_args(accel, vars.as_deref())?;
        // The netroot's root image, served for the length of the boot.
        let nbd = match self.net.as_ref().and_then(|n| n.nbd_conf.as_deref()) {
            Some(conf) => match NbdServer::start(conf, &work) {
                Ok(s) => Some(s),
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&work);
                    return Err(e);
                }
            },
            None => None,
        };
        tracing::debug!("boot test: {} {}", qemu.display(), args.join(" "));
        let started = Instant::now();
        let log_file = std::fs::File::create(&self.serial_log)
            .map_err(IoError::at("create the serial log", &self.serial_log))?;
        let mut child = Command::new(&qemu)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| BootTestError::Spawn {
                cmd: format!("{} {}", qemu.display(), args.join(" ")),
                source,
            })?;
        let mut keys = child.stdin.take();
        // Unbuffered: the loop below reads the log while the guest is still printing.
        let console = child.stdout.take().map(|mut out| {
            let mut log_file = log_file;
            std::thread::spawn(move || std::io::copy(&mut out, &mut log_file))
        });
        let mut q = Qemu(child);
        let mut menu_answered = !self.menu_enter;
        let mut outcome = BootOutcome {
            success: false,
            matched: None,
            log: String::new(),
            elapsed: Duration::ZERO,
            accel,
            reason: None,
            kernel_secure_boot: None,
            refused: None,
            restarts: 0,
        };
        let mut stalled = false;
        let (mut seen_len, mut grew_at) = (0, Instant::now());
        loop {
            std::thread::sleep(Duration::from_millis(250));
            let log = read_lossy(&self.serial_log);
            if log.len() != seen_len {
                (seen_len, grew_at) = (log.len(), Instant::now());
            }
            if !menu_answered && menu_counting_down(&log) {
                if let Some(k) = keys.as_mut() {
                    // A failed write leaves the countdown to start the entry.
                    let _ = k.write_all(b"\r").and_then(|()| k.flush());
                }
                menu_answered = true;
            }
            if let Some(line) = log.lines().find(|l| self.expect.is_match(l)) {
                outcome.success = true;
                outcome.matched = Some(line.trim_end_matches('\r').to_string());
                // Let the guest finish what follows the marker (the fixture's package count).
                outcome.log = self.log_when_quiet(log.len());
                break;
            }
            // Refused by Secure Boot: nothing else will start (shim would go on to MokManager's
            // menu, which waits for a key), so stop with the rest of what it printed.
            if let Some(line) = self
                .secure_boot
                .then(|| secure_boot_refusal(&log))
                .flatten()
            {
                outcome.log = self.log_when_quiet(log.len());
                outcome.reason = Some(format!("Secure Boot refused to start an image (`{line}`)"));
                outcome.refused = Some(line);
                break;
            }
            if let Ok(Some(status)) = q.0.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = q.0.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                outcome.log = log;
                outcome.reason = Some(format!(
                    "qemu exited ({status}) before the expected line{}",
                    if err.trim().is_empty() {
                        String::new()
                    } else {
                        format!(": {}", err.trim())
                    }
                ));
                break;
            }
            // A guest that halted or panicked never prints the line: no need to wait it out.
            if let Some(end) = ["reboot: System halted", "Kernel panic - not syncing"]
                .iter()
                .find(|m| log.contains(**m))
            {
                outcome.log = log.clone();
                outcome.reason = Some(format!("the guest stopped (`{end}`)"));
                break;
            }
            if crate::cancel::interrupted() {
                outcome.log = log;
                outcome.reason = Some("interrupted".into());
                break;
            }
            if let Some(line) = console_stalled(&log, grew_at.elapsed()).map(str::to_owned) {
                outcome.log = log;
                outcome.reason = Some(format!(
                    "the guest stalled (`{line}`, then no console output for {} s)",
                    STALL_QUIET.as_secs()
                ));
                stalled = true;
                break;
            }
            if started.elapsed() > self.timeout {
                outcome.log = log;
                outcome.reason = Some(format!(
                    "no line matching `{}` within {} s",
                    self.expect.as_str(),
                    self.timeout.as_secs()
                ));
                break;
            }
        }
        drop(q);
        drop(keys);
        if let Some(c) = console {
            let _ = c.join();
        }
        drop(nbd);
        outcome.elapsed = started.elapsed();
        outcome.kernel_secure_boot = kernel_secure_boot(&outcome.log);
        let _ = std::fs::remove_dir_all(&work);
        Ok((outcome, stalled))
    }

    /// The serial log once it has stopped growing for 2 s (at most 20 s more: slow under
    /// TCG); `seen` is the length already read.
    fn log_when_quiet(&self, seen: usize) -> String {
        let mut last = seen;
        let mut quiet = 0;
        for _ in 0..80 {
            std::thread::sleep(Duration::from_millis(250));
            let now = read_lossy(&self.serial_log).len();
            if now == last {
                quiet += 1;
                if quiet >= 8 {
                    break;
                }
            } else {
                quiet = 0;
                last = now;
            }
        }
        read_lossy(&self.serial_log)
    }

    fn choose_accel(&self, qemu: &Path) -> &'static str {
        match self.accel {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
            Accel::Auto => {
                if !self.arch.is_foreign() && kvm_boots_firmware(qemu, self) {
                    "kvm"
                } else {
                    "tcg"
                }
            }
        }
    }
}

/// How long a console stays silent after an RCU stall report before the guest counts as hung.
const STALL_QUIET: Duration = Duration::from_secs(120);
/// Restarts after a stall, per boot test.
const MAX_STALL_RESTARTS: u32 = 1;

/// The RCU stall line of a guest that has printed nothing for `quiet` (at least
/// [`STALL_QUIET`]), else `None`. Under TCG a vCPU can lose its timer wakeup: the kernel says so
/// ("rcu_preempt kthread timer wakeup didn't happen", "rcu: INFO: rcu_sched detected stalls")
/// and then nothing more happens until the timeout.
pub fn console_stalled(log: &str, quiet: Duration) -> Option<&str> {
    if quiet < STALL_QUIET {
        return None;
    }
    log.lines()
        .rev()
        .find(|l| {
            l.contains("kthread timer wakeup didn't happen")
                || (l.contains("rcu:") && l.contains("detected stall"))
                || l.contains("self-detected stall on CPU")
        })
        .map(|l| l.trim_end_matches('\r').trim())
}

fn read_lossy(p: &Path) -> String {
    std::fs::read(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

fn tempdir_near(log: &Path) -> Result<PathBuf, BootTestError> {
    let base = log
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let d = base.join(format!(".kiln-boot-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(IoError::at("create", &d))?;
    Ok(d)
}

/// Does KVM really run this firmware? Boot it with no disk for a few seconds and look for
/// its banner on the serial console and no KVM emulation failure.
fn kvm_boots_firmware(qemu: &Path, t: &BootTest) -> bool {
    if !Path::new("/dev/kvm").exists() {
        return false;
    }
    let dir = std::env::temp_dir().join(format!("kiln-kvm-probe-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return false;
    }
    let log = dir.join("serial.log");
    let mut args: Vec<String> = t.arch.qemu_machine.iter().map(|s| s.to_string()).collect();
    args.extend(cpu_args(t.arch, "kvm"));
    args.extend(
        [
            "-accel",
            "kvm",
            "-m",
            "256",
            "-display",
            "none",
            "-monitor",
            "none",
            "-no-reboot",
        ]
        .map(String::from),
    );
    args.push("-serial".into());
    args.push(format!("file:{}", log.display()));
    if t.firmware == Firmware::Uefi {
        if let Some((code, _)) = firmware_files(t.arch, false) {
            args.push("-drive".into());
            args.push(format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={}",
                code.display()
            ));
        }
    }
    let ok = match Command::new(qemu)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => {
            let mut q = Qemu(child);
            std::thread::sleep(Duration::from_secs(6));
            let alive = matches!(q.0.try_wait(), Ok(None));
            let _ = q.0.kill();
            let _ = q.0.wait();
            let mut err = String::new();
            if let Some(mut e) = q.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let serial = read_lossy(&log);
            alive && !err.contains("KVM internal error") && !serial.trim().is_empty()
        }
        Err(_) => false,
    };
    let _ = std::fs::remove_dir_all(&dir);
    tracing::debug!(
        "kvm probe: {}",
        if ok {
            "firmware runs"
        } else {
            "unusable, using tcg"
        }
    );
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    /// riscv64's U-Boot is qemu's kernel (no flash), and the ISO a read-only virtio disk.
    #[test]
    fn uefi_as_kernel_and_the_iso_on_virtio_blk() {
        let d = tempfile::tempdir().unwrap();
        let uboot = d.path().join("uboot.elf");
        std::fs::write(&uboot, b"\x7fELF").unwrap();
        let uboot_path: &'static str = Box::leak(uboot.display().to_string().into_boxed_str());
        let kernels: &'static [&'static str] = Box::leak(vec![uboot_path].into_boxed_slice());
        let arch: &'static ArchInfo = Box::leak(Box::new(ArchInfo {
            uefi_kernel: kernels,
            ..*crate::arch::info("riscv64").unwrap()
        }));
        let t = BootTest {
            image: d.path().join("live.iso"),
            arch,
            firmware: Firmware::Uefi,
            attach: Attach::Cdrom,
            timeout: Duration::from_secs(1),
            expect: regex::Regex::new("x").unwrap(),
            memory_mb: 2048,
            menu_enter: true,
            serial_log: d.path().join("serial.log"),
            accel: Accel::Tcg,
            net: None,
            secure_boot: false,
        };
        let a = t.qemu_args("tcg", None).unwrap().join(" ");
        assert!(a.contains(&format!("-kernel {uboot_path}")), "{a}");
        assert!(!a.contains("pflash"), "{a}");
        assert!(
            a.contains(&format!(
                "-drive if=none,id=cd0,format=raw,file={},readonly=on -device virtio-blk-pci,drive=cd0,bootindex=0",
                d.path().join("live.iso").display()
            )),
            "{a}"
        );
    }

    #[test]
    fn a_stall_needs_the_kernels_report_and_a_silent_console() {
        // Lines as Linux 6.1's RCU code prints them (kernel/rcu/tree_stall.h).
        let log = "[    7.012345] i8042: PNP: PS/2 Controller [PNP0303:KBD,PNP0f13:MOU] at 0x60,0x64 irq 1,12\r\n\
                   [   70.120001] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:\r\n\
                   [   70.120002] rcu: rcu_preempt kthread timer wakeup didn't happen for 14998 jiffies! g-1003 f0x0 RCU_GP_WAIT_FQS(5) ->state=0x402\r\n";
        let long = STALL_QUIET + Duration::from_secs(1);
        assert_eq!(
            console_stalled(log, long),
            Some("[   70.120002] rcu: rcu_preempt kthread timer wakeup didn't happen for 14998 jiffies! g-1003 f0x0 RCU_GP_WAIT_FQS(5) ->state=0x402")
        );
        // Still printing: a stall the kernel recovered from is no hang.
        assert_eq!(console_stalled(log, Duration::from_secs(5)), None);
        // Silent without a stall report: a slow boot, left to the timeout.
        let quiet_boot = "[    3.1] Freeing unused kernel image memory: 2048K\r\n";
        assert_eq!(console_stalled(quiet_boot, long), None);
    }

    #[test]
    fn refusal_and_kernel_state_from_the_console() {
        // shim's error box as OVMF's serial console shows it: one line of cursor moves.
        let shim = "\u{1b}[02;01H\u{fffd}   ERROR   \u{fffd}\u{1b}[04;01H\u{fffd}     Verification failed: (0x1A) Security Violation      \u{fffd}\u{1b}[05;01H\r\n";
        assert_eq!(
            secure_boot_refusal(shim).as_deref(),
            Some("Verification failed: (0x1A) Security Violation")
        );
        let bds = "BdsDxe: failed to load Boot0001 \"UEFI QEMU DVD-ROM\" from PciRoot(0x0): Access Denied\r\n";
        assert_eq!(
            secure_boot_refusal(bds).as_deref(),
            Some("BdsDxe: failed to load Boot0001 \"UEFI QEMU DVD-ROM\" from PciRoot(0x0): Access Denied")
        );
        assert_eq!(secure_boot_refusal("Welcome to GRUB!\n"), None);
        assert_eq!(
            kernel_secure_boot("[    0.000000] secureboot: Secure boot enabled\n"),
            Some(true)
        );
        assert_eq!(
            kernel_secure_boot("[    0.000000] secureboot: Secure boot disabled\n"),
            Some(false)
        );
        assert_eq!(kernel_secure_boot("KILN-BOOT-OK\n"), None);
    }
}
