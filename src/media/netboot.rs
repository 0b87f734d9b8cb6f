//! Network boot trees: PXE live (lorax's pxe-live outputs plus a pxelinux tree that boots from
//! TFTP alone), livecd-iso-to-pxeboot (the ISO appended to the initrd) and netroot as
//! fedora-live-netroot does it (the root image exported read-only by nbd-server, a pxelinux
//! tree whose kernel arguments attach it over NBD under an in-memory overlay). [`PxeLive`] and
//! [`Netroot`] are the build's outputs; `kiln iso-to-pxeboot` and `iso-to-netroot` make the same
//! trees from a built ISO.
//!
//! The kernel and initramfs are the live media's own (dracut with dmsquash-live). Booting
//! from TFTP alone works because dmsquash-live accepts a root image or ISO that is a file in
//! the initramfs (`root=live:/x.img`, `root=live:/x.iso`): the image goes into a second
//! initrd (a newc cpio the kernel unpacks after the first). Netroot and `root=live:URL` need
//! the network in the initramfs: the root must carry dracut's network modules (Fedora's
//! `dracut-network`, Debian's `dracut-network`) and `nbd-client` (Fedora `nbd`, Debian
//! `nbd-client`), which the live build adds to the initramfs when the root has them.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::output::{Artifact, Built, Output};
use super::MediaError;
use crate::error::IoError;

/// Where pxelinux's files are, Fedora's then Debian's layout (in a root or on the host).
const PXELINUX: &[&str] = &[
    "usr/share/syslinux/pxelinux.0",
    "usr/lib/PXELINUX/pxelinux.0",
];
const LDLINUX: &[&str] = &[
    "usr/share/syslinux/ldlinux.c32",
    "usr/lib/syslinux/modules/bios/ldlinux.c32",
];

/// The qemu user network's address of the host, where its TFTP server and the host's
/// loopback services (nbd-server) are.
pub const QEMU_HOST: &str = "10.0.2.2";

/// The first of `candidates` under the root `root`, then under the host's `/`.
fn find_in(root: Option<&Path>, candidates: &[&str]) -> Option<PathBuf> {
    root.into_iter()
        .chain(std::iter::once(Path::new("/")))
        .flat_map(|r| candidates.iter().map(move |c| r.join(c)))
        .find(|p| p.is_file())
}

/// Copy pxelinux.0 and ldlinux.c32 (from `root` when it has them, else from the host) into
/// `dir`.
pub fn install_pxelinux(root: Option<&Path>, dir: &Path) -> Result<(), MediaError> {
    let missing = |what: &str| MediaError::Tool {
        cmd: format!("looking for {what}"),
        output: format!(
            "{what} is neither in the root nor on the host; install `pxelinux` and \
             `syslinux-common` (Debian) or `syslinux-nonlinux` (Fedora)"
        ),
    };
    let pxe = find_in(root, PXELINUX).ok_or_else(|| missing("pxelinux.0"))?;
    let ld = find_in(root, LDLINUX).ok_or_else(|| missing("ldlinux.c32"))?;
    std::fs::create_dir_all(dir).map_err(IoError::at("create", dir))?;
    for (src, name) in [(pxe, "pxelinux.0"), (ld, "ldlinux.c32")] {
        let dst = dir.join(name);
        std::fs::copy(&src, &dst).map_err(IoError::at("copy to", &dst))?;
    }
    Ok(())
}

/// Append `name` (a path inside the archive, without a leading `/`) with the content of
/// `src` to a newc cpio stream, then its trailer: what the kernel unpacks as an extra initrd.
pub fn write_cpio(out: &mut impl Write, files: &[(&str, &Path)]) -> Result<(), std::io::Error> {
    fn header(
        out: &mut impl Write,
        ino: u32,
        mode: u32,
        size: u64,
        name: &str,
    ) -> std::io::Result<()> {
        let size = u32::try_from(size)
            .map_err(|_| std::io::Error::other(format!("`{name}` is larger than newc's 4 GiB")))?;
        let namesize = name.len() as u32 + 1;
        write!(
            out,
            "070701{ino:08X}{mode:08X}{:08X}{:08X}{:08X}{:08X}{size:08X}{:08X}{:08X}{:08X}{:08X}{namesize:08X}{:08X}",
            0, 0, 1, 0, 0, 0, 0, 0, 0
        )?;
        out.write_all(name.as_bytes())?;
        out.write_all(&[0])?;
        // The name is padded so that the data starts on a 4-byte boundary (header is 110).
        let pad = (4 - (110 + namesize as usize) % 4) % 4;
        out.write_all(&[0u8; 3][..pad])
    }
    for (i, (name, src)) in files.iter().enumerate() {
        let mut f = std::fs::File::open(src)?;
        let size = f.metadata()?.len();
        header(out, i as u32 + 1, 0o100644, size, name)?;
        let copied = std::io::copy(&mut f, out)?;
        if copied != size {
            return Err(std::io::Error::other(format!(
                "`{}` changed size while being read",
                src.display()
            )));
        }
        out.write_all(&[0u8; 3][..((4 - size % 4) % 4) as usize])?;
    }
    header(out, 0, 0, 0, "TRAILER!!!")?;
    out.flush()
}

fn write_cpio_file(out: &Path, files: &[(&str, &Path)]) -> Result<(), MediaError> {
    let f = std::fs::File::create(out).map_err(IoError::at("create", out))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, super::CancelWriter(f));
    Ok(write_cpio(&mut w, files).map_err(IoError::at("write", out))?)
}

/// A serial console among the kernel arguments: pxelinux then talks on it too.
fn pxelinux_serial(args: &str) -> String {
    args.split_whitespace()
        .filter_map(|a| a.strip_prefix("console=ttyS"))
        .filter_map(|rest| {
            let (unit, speed) = rest.split_once(',').unwrap_or((rest, "115200"));
            let speed: String = speed.chars().take_while(char::is_ascii_digit).collect();
            Some(format!("SERIAL {} {}\n", unit.parse::<u32>().ok()?, speed))
        })
        .next()
        .unwrap_or_default()
}

/// One boot entry of a pxelinux/GRUB netboot menu.
#[derive(Debug, Clone)]
pub struct NetEntry {
    /// Menu label (no spaces).
    pub label: String,
    /// Kernel, relative to the TFTP root.
    pub kernel: String,
    /// Initrds, relative to the TFTP root, loaded in order.
    pub initrds: Vec<String>,
    /// Kernel arguments.
    pub args: String,
}

/// `pxelinux.cfg/default` booting `entries[default]` at once.
pub fn pxelinux_cfg(entries: &[NetEntry], default: usize) -> String {
    let mut s = String::from("# written by kiln\n");
    if let Some(e) = entries.get(default).or(entries.first()) {
        s.push_str(&pxelinux_serial(&e.args));
        s.push_str(&format!("DEFAULT {}\nPROMPT 0\nTIMEOUT 20\n", e.label));
    }
    for e in entries {
        s.push_str(&format!(
            "\nLABEL {}\n  KERNEL {}\n  APPEND initrd={} {}\n",
            e.label,
            e.kernel,
            e.initrds.join(","),
            e.args
        ));
    }
    s.push_str("\nONERROR LOCALBOOT 0\n");
    s
}

/// A GRUB netboot menu (`grub-mknetdir`'s layout reads it over TFTP as `(tftp)/...`).
pub fn grub_netboot_cfg(entries: &[NetEntry]) -> String {
    let mut s = String::from(
        "# written by kiln: GRUB netboot menu (UEFI PXE with grub-mknetdir)\nset timeout=2\n",
    );
    for e in entries {
        let initrds: Vec<String> = e.initrds.iter().map(|i| format!("(tftp)/{i}")).collect();
        s.push_str(&format!(
            "menuentry '{}' {{\n\tlinux (tftp)/{} {}\n\tinitrd {}\n}}\n",
            e.label,
            e.kernel,
            e.args,
            initrds.join(" ")
        ));
    }
    s
}

/// What the PXE outputs are made of.
#[derive(Debug, Clone)]
pub struct LiveParts {
    /// The volume label.
    pub label: String,
    /// The kernel.
    pub vmlinuz: PathBuf,
    /// The live initramfs.
    pub initrd: PathBuf,
    /// The root image (LiveOS/squashfs.img).
    pub squashfs: PathBuf,
    /// Kernel arguments beyond the root= ones (console=, the kickstart's `bootloader --append`).
    pub extra_args: String,
    /// A root to take pxelinux from (else the host's).
    pub root: Option<PathBuf>,
}

impl LiveParts {
    /// The parts of the live media the build made, labelled `label`, booting with
    /// `extra_args`; pxelinux from the build's root when it has one.
    pub fn of(built: &Built<'_>, label: &str, extra_args: &str) -> LiveParts {
        LiveParts {
            label: label.to_string(),
            vmlinuz: built.vmlinuz(),
            initrd: built.initrd(),
            squashfs: built.root_image(),
            extra_args: extra_args.to_string(),
            root: Some(built.root.to_path_buf()),
        }
    }
}

/// `--make-pxe-live`: the tree `<label>-pxe` ([`make_pxe_live`]).
#[derive(Debug, Clone)]
pub struct PxeLive {
    /// The volume label.
    pub label: String,
    /// Kernel arguments beyond the root= ones.
    pub kernel_args: String,
}

impl Output for PxeLive {
    fn needs_root_image(&self) -> bool {
        true
    }

    fn make(&self, built: &Built<'_>, staging: &Path) -> Result<Vec<Artifact>, MediaError> {
        let dir = staging.join(format!("{}-pxe", self.label));
        make_pxe_live(&LiveParts::of(built, &self.label, &self.kernel_args), &dir)?;
        Ok(vec![Artifact::tree(dir, "pxe-live")])
    }
}

/// `--make-netroot`: the tree `<label>-netroot` ([`make_netroot`]) for the qemu user network.
#[derive(Debug, Clone)]
pub struct Netroot {
    /// The result directory the tree is renamed into: nbd.conf names the image there.
    pub resultdir: PathBuf,
    /// The volume label (the export's and the menu entry's name).
    pub label: String,
    /// Kernel arguments beyond the root= and netroot= ones.
    pub kernel_args: String,
}

impl Output for Netroot {
    fn make(&self, built: &Built<'_>, staging: &Path) -> Result<Vec<Artifact>, MediaError> {
        let name = format!("{}-netroot", self.label);
        let dir = staging.join(&name);
        let final_dir = std::fs::canonicalize(&self.resultdir)
            .map_err(IoError::at("resolve", &self.resultdir))?
            .join(&name);
        let parts = LiveParts::of(built, &self.label, &self.kernel_args);
        make_netroot(&parts, &dir, QEMU_HOST, Some(&final_dir))?;
        Ok(vec![Artifact::tree(dir, "netroot")])
    }

    fn needs_root_image(&self) -> bool {
        true
    }
}

fn args_with(base: &str, extra: &str) -> String {
    if extra.trim().is_empty() {
        base.to_string()
    } else {
        format!("{base} {}", extra.trim())
    }
}

/// `--make-pxe-live` into `dir`: lorax's pxe-live files (`vmlinuz`, `initrd.img`,
/// `live-rootfs.squashfs.img`, `PXE_CONFIG` for serving the image over HTTP) plus a tree that
/// boots from TFTP alone: pxelinux.0, ldlinux.c32, `pxelinux.cfg/default` and a GRUB
/// `grub.cfg`, the root image carried in a second initrd `live-rootfs.cpio`.
pub fn make_pxe_live(p: &LiveParts, dir: &Path) -> Result<(), MediaError> {
    std::fs::create_dir_all(dir).map_err(IoError::at("create", dir))?;
    for (src, name) in [(&p.vmlinuz, "vmlinuz"), (&p.initrd, "initrd.img")] {
        let dst = dir.join(name);
        std::fs::copy(src, &dst).map_err(IoError::at("copy to", &dst))?;
    }
    let img = dir.join("live-rootfs.squashfs.img");
    std::fs::copy(&p.squashfs, &img).map_err(IoError::at("copy to", &img))?;
    write_cpio_file(
        &dir.join("live-rootfs.cpio"),
        &[("live-rootfs.squashfs.img", &img)],
    )?;
    install_pxelinux(p.root.as_deref(), dir)?;
    let live = "rd.live.image rd.live.overlay.overlayfs=1";
    let entries = [
        NetEntry {
            label: "live".into(),
            kernel: "vmlinuz".into(),
            initrds: vec!["initrd.img".into(), "live-rootfs.cpio".into()],
            args: args_with(
                &format!("root=live:/live-rootfs.squashfs.img {live}"),
                &p.extra_args,
            ),
        },
        // Needs the network in the initramfs (dracut's livenet and url-lib).
        NetEntry {
            label: "live-tftp".into(),
            kernel: "vmlinuz".into(),
            initrds: vec!["initrd.img".into()],
            args: args_with(
                &format!("root=live:tftp://{QEMU_HOST}/live-rootfs.squashfs.img ip=dhcp rd.neednet=1 {live}"),
                &p.extra_args,
            ),
        },
    ];
    let cfg_dir = dir.join("pxelinux.cfg");
    std::fs::create_dir_all(&cfg_dir).map_err(IoError::at("create", &cfg_dir))?;
    let cfg = cfg_dir.join("default");
    std::fs::write(&cfg, pxelinux_cfg(&entries, 0)).map_err(IoError::at("write", &cfg))?;
    let grub = dir.join("grub.cfg");
    std::fs::write(&grub, grub_netboot_cfg(&entries)).map_err(IoError::at("write", &grub))?;
    // lorax's template: the URL is the server's, filled in by whoever serves the image.
    let pxe_config = format!(
        "# PXE configuration template generated by kiln (as livemedia-creator --make-pxe-live)\n\
         # Serve live-rootfs.squashfs.img over HTTP and replace <URL>.\n\
         label {label}\n  kernel vmlinuz\n  append initrd=initrd.img root=live:<URL>/live-rootfs.squashfs.img {args}\n",
        label = p.label,
        args = args_with(&format!("ip=dhcp rd.neednet=1 {live}"), &p.extra_args),
    );
    let pc = dir.join("PXE_CONFIG");
    std::fs::write(&pc, pxe_config).map_err(IoError::at("write", &pc))?;
    Ok(())
}

/// Add the netroot of `p` to the tree `out` (created or extended): `images/<label>/rootfs.img`
/// (ext4 holding `LiveOS/squashfs.img`)
/// and its section in `images/nbd.conf`, `tftp/<label>/{vmlinuz,initrd.img}`, pxelinux and a
/// `pxelinux.cfg/default` with one entry per image in the tree (this one the default).
/// `server` is the NBD server as the booting machine sees it; `final_dir` is where `out` will
/// be when nbd-server reads the config (`out` itself when `None`).
pub fn make_netroot(
    p: &LiveParts,
    out: &Path,
    server: &str,
    final_dir: Option<&Path>,
) -> Result<(), MediaError> {
    let images = out.join("images");
    let img_dir = images.join(&p.label);
    std::fs::create_dir_all(&img_dir).map_err(IoError::at("create", &img_dir))?;
    // As fedora-live-netroot: an ext4 file system holding LiveOS/squashfs.img, exported
    // read-only. dmsquash-live then finds it by UUID once nbd-client has connected (udev makes
    // the by-uuid link only for a connected NBD device; a bare squashfs has no UUID, and
    // `root=live:/dev/nbd0` would be tried before the connection).
    let img = img_dir.join("rootfs.img");
    let stage = img_dir.join(".kiln-stage");
    let _ = std::fs::remove_dir_all(&stage);
    let liveos = stage.join("LiveOS");
    std::fs::create_dir_all(&liveos).map_err(IoError::at("create", &liveos))?;
    let sq = liveos.join("squashfs.img");
    if std::fs::hard_link(&p.squashfs, &sq).is_err() {
        std::fs::copy(&p.squashfs, &sq).map_err(IoError::at("copy to", &sq))?;
    }
    let sq_len = std::fs::metadata(&sq)
        .map_err(IoError::at("read", &sq))?
        .len();
    let size = (sq_len + sq_len / 20 + (32 << 20)).div_ceil(1 << 20) << 20;
    let uuid = super::disk::uuid_from(&format!("netroot {} {sq_len}", p.label));
    let _ = std::fs::remove_file(&img);
    let made = super::disk::mkfs_ext4(&stage, &img, 0, size, &p.label, Some(&uuid), None);
    let _ = std::fs::remove_dir_all(&stage);
    made?;
    let tftp = out.join("tftp");
    let kdir = tftp.join(&p.label);
    std::fs::create_dir_all(&kdir).map_err(IoError::at("create", &kdir))?;
    for (src, name) in [(&p.vmlinuz, "vmlinuz"), (&p.initrd, "initrd.img")] {
        let dst = kdir.join(name);
        std::fs::copy(src, &dst).map_err(IoError::at("copy to", &dst))?;
    }
    install_pxelinux(p.root.as_deref(), &tftp)?;
    // nbd-server needs absolute paths; the export is read-only and shared by all clients.
    let abs_img = match final_dir {
        Some(d) => d.join("images").join(&p.label).join("rootfs.img"),
        None => std::fs::canonicalize(&img).map_err(IoError::at("resolve", &img))?,
    };
    let conf = images.join("nbd.conf");
    let old = std::fs::read_to_string(&conf).unwrap_or_default();
    std::fs::write(&conf, nbd_conf_with(&old, &p.label, &abs_img))
        .map_err(IoError::at("write", &conf))?;
    // The root image over NBD (dracut's nbd module attaches it as /dev/nbd0), mounted by
    // dmsquash-live with an overlayfs in RAM on top.
    let args = args_with(
        &format!(
            "root=live:UUID={uuid} netroot=nbd:{server}:{}:ext4:ro ip=dhcp rd.neednet=1 rd.live.image rd.live.overlay.overlayfs=1",
            p.label
        ),
        &p.extra_args,
    );
    let argf = kdir.join("cmdline");
    std::fs::write(&argf, format!("{args}\n")).map_err(IoError::at("write", &argf))?;
    // One menu entry per image in the tree; the one just added boots by default.
    let mut entries = Vec::new();
    let mut default = 0;
    let mut labels: Vec<String> = std::fs::read_dir(&tftp)
        .map_err(IoError::at("read", &tftp))?
        .flatten()
        .filter(|e| e.path().join("cmdline").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    labels.sort();
    for l in labels {
        let a = std::fs::read_to_string(tftp.join(&l).join("cmdline")).unwrap_or_default();
        if l == p.label {
            default = entries.len();
        }
        entries.push(NetEntry {
            label: l.clone(),
            kernel: format!("{l}/vmlinuz"),
            initrds: vec![format!("{l}/initrd.img")],
            args: a.trim().to_string(),
        });
    }
    let cfg_dir = tftp.join("pxelinux.cfg");
    std::fs::create_dir_all(&cfg_dir).map_err(IoError::at("create", &cfg_dir))?;
    let cfg = cfg_dir.join("default");
    std::fs::write(&cfg, pxelinux_cfg(&entries, default)).map_err(IoError::at("write", &cfg))?;
    let grub = tftp.join("grub.cfg");
    std::fs::write(&grub, grub_netboot_cfg(&entries)).map_err(IoError::at("write", &grub))?;
    Ok(())
}

/// `old` (an nbd-server config, possibly empty) with the export `[label]` set to `img`.
pub fn nbd_conf_with(old: &str, label: &str, img: &Path) -> String {
    let mut out = String::new();
    let mut skip = false;
    for line in old.lines() {
        let t = line.trim();
        if t.starts_with('[') && t.ends_with(']') {
            skip = &t[1..t.len() - 1] == label;
        }
        if !skip {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !out.lines().any(|l| l.trim() == "[generic]") {
        out = format!("# written by kiln: nbd-server -C THIS_FILE\n[generic]\n{out}");
    }
    out.push_str(&format!(
        "[{label}]\n  exportname = {}\n  readonly = true\n  multifile = false\n  copyonwrite = false\n",
        img.display()
    ));
    out
}

/// Run a host tool, failing with its output.
fn tool(cmd: std::process::Command) -> Result<String, MediaError> {
    let desc = format!("{cmd:?}");
    // Under kiln's guard: a killed kiln takes the tool with it.
    let mut cmd = crate::pidns::wrap(cmd);
    let out = cmd.output().map_err(|e| MediaError::Tool {
        cmd: desc.clone(),
        output: e.to_string(),
    })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(MediaError::Tool {
            cmd: desc,
            output: text,
        });
    }
    Ok(text)
}

/// A live ISO's parts, extracted with xorriso (the host cannot mount ISO 9660 everywhere).
pub struct IsoParts {
    /// Kernel, initrd, root image and label.
    pub parts: LiveParts,
    /// The first boot entry's kernel arguments.
    pub args: String,
}

/// Extract the kernel, initrd and root image of the live ISO `iso` into `work`.
pub fn extract_iso(iso: &Path, work: &Path) -> Result<IsoParts, MediaError> {
    std::fs::create_dir_all(work).map_err(IoError::at("create", work))?;
    let info = tool({
        let mut c = std::process::Command::new("xorriso");
        c.args(["-indev"]).arg(iso).arg("-pvd_info");
        c
    })?;
    let label = info
        .lines()
        .find_map(|l| l.strip_prefix("Volume Id    :"))
        .map(|s| s.trim().replace(' ', "_"))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| MediaError::NotLive(format!("`{}` has no volume id", iso.display())))?;
    let ls = tool({
        let mut c = std::process::Command::new("xorriso");
        c.args(["-indev"])
            .arg(iso)
            .args(["-find", "/", "-type", "f", "-exec", "report_lba", "--"]);
        c
    })
    .unwrap_or_default();
    let pick = |cands: &[&str]| -> Option<String> {
        cands
            .iter()
            .find(|c| ls.contains(&format!("'{c}'")) || ls.contains(&format!(" {c}\n")))
            .map(|c| c.to_string())
    };
    let kernel = pick(&[
        "/images/pxeboot/vmlinuz",
        "/isolinux/vmlinuz",
        "/isolinux/vmlinuz0",
    ]);
    let initrd = pick(&[
        "/images/pxeboot/initrd.img",
        "/isolinux/initrd.img",
        "/isolinux/initrd0.img",
    ]);
    let (Some(kernel), Some(initrd)) = (kernel, initrd) else {
        return Err(MediaError::NotLive(format!(
            "`{}` has no kernel and initrd where live media keep them (images/pxeboot/)",
            iso.display()
        )));
    };
    let mut cmd = std::process::Command::new("xorriso");
    cmd.args(["-osirrox", "on", "-indev"]).arg(iso);
    let files = [
        (kernel.as_str(), "vmlinuz"),
        (initrd.as_str(), "initrd.img"),
        ("/LiveOS/squashfs.img", "squashfs.img"),
    ];
    for (src, dst) in files {
        cmd.args(["-extract", src]).arg(work.join(dst));
    }
    for cfg in [
        "/boot/grub2/grub.cfg",
        "/isolinux/isolinux.cfg",
        "/EFI/BOOT/grub.cfg",
    ] {
        if ls.contains(cfg) {
            cmd.args(["-extract", cfg])
                .arg(work.join(cfg.replace('/', "_")));
        }
    }
    tool(cmd)?;
    if !work.join("squashfs.img").is_file() {
        return Err(MediaError::NotLive(format!(
            "`{}` has no LiveOS/squashfs.img",
            iso.display()
        )));
    }
    // The first boot entry's arguments, as livecd-iso-to-pxeboot takes them.
    let args = [
        "_boot_grub2_grub.cfg",
        "_EFI_BOOT_grub.cfg",
        "_isolinux_isolinux.cfg",
    ]
    .iter()
    .filter_map(|f| std::fs::read_to_string(work.join(f)).ok())
    .find_map(|cfg| {
        cfg.lines().find_map(|l| {
            let t = l.trim();
            if let Some(rest) = t.strip_prefix("linux ").or(t.strip_prefix("linuxefi ")) {
                Some(
                    rest.split_whitespace()
                        .skip(1)
                        .collect::<Vec<_>>()
                        .join(" "),
                )
            } else {
                t.strip_prefix("append ").map(|rest| {
                    rest.split_whitespace()
                        .filter(|a| !a.starts_with("initrd="))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
            }
        })
    })
    .unwrap_or_default();
    Ok(IsoParts {
        parts: LiveParts {
            label,
            vmlinuz: work.join("vmlinuz"),
            initrd: work.join("initrd.img"),
            squashfs: work.join("squashfs.img"),
            extra_args: extra_args(&args),
            root: None,
        },
        args,
    })
}

/// The ISO's kernel arguments without the ones that say where the root is.
pub fn extra_args(args: &str) -> String {
    args.split_whitespace()
        .filter(|a| {
            !(a.starts_with("root=")
                || *a == "rd.live.image"
                || a.starts_with("rd.live.overlay")
                || *a == "rd.live.check"
                || *a == "ro"
                || *a == "rw")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// livecd-iso-to-pxeboot: `out/` with `vmlinuz0`, `initrd0.img` (the ISO's initrd with the
/// ISO itself appended as a cpio), pxelinux and `pxelinux.cfg/default`
/// (`root=live:/<iso name>`).
pub fn iso_to_pxeboot(iso: &Path, out: &Path) -> Result<(), MediaError> {
    let work = out.join(".kiln-extract");
    let _ = std::fs::remove_dir_all(&work);
    let r = (|| {
        let x = extract_iso(iso, &work)?;
        std::fs::create_dir_all(out).map_err(IoError::at("create", out))?;
        let name = iso
            .file_name()
            .map(|n| n.to_string_lossy().replace(' ', "_"))
            .unwrap_or_else(|| "live.iso".into());
        let name = if name.to_ascii_lowercase().ends_with(".iso") {
            name
        } else {
            format!("{name}.iso")
        };
        let k = out.join("vmlinuz0");
        std::fs::copy(&x.parts.vmlinuz, &k).map_err(IoError::at("copy to", &k))?;
        // One initrd file, as livecd-iso-to-pxeboot makes it: the kernel unpacks the
        // concatenated archives in turn.
        let initrd = out.join("initrd0.img");
        {
            let f = std::fs::File::create(&initrd).map_err(IoError::at("create", &initrd))?;
            let mut w = std::io::BufWriter::with_capacity(1 << 20, super::CancelWriter(f));
            let mut src = std::fs::File::open(&x.parts.initrd)
                .map_err(IoError::at("read", &x.parts.initrd))?;
            let n = std::io::copy(&mut src, &mut w).map_err(IoError::at("copy to", &initrd))?;
            // Each archive starts on a 4-byte boundary.
            w.write_all(&[0u8; 3][..((4 - n % 4) % 4) as usize])
                .map_err(IoError::at("write", &initrd))?;
            write_cpio(&mut w, &[(name.as_str(), iso)]).map_err(IoError::at("write", &initrd))?;
        }
        install_pxelinux(None, out)?;
        let entry = NetEntry {
            label: "pxeboot".into(),
            kernel: "vmlinuz0".into(),
            initrds: vec!["initrd0.img".into()],
            args: args_with(
                &format!(
                    "root=live:/{name} rootfstype=auto ro rd.live.image rd.luks=0 rd.md=0 rd.dm=0"
                ),
                &x.parts.extra_args,
            ),
        };
        let cfg_dir = out.join("pxelinux.cfg");
        std::fs::create_dir_all(&cfg_dir).map_err(IoError::at("create", &cfg_dir))?;
        let cfg = cfg_dir.join("default");
        std::fs::write(&cfg, pxelinux_cfg(&[entry], 0)).map_err(IoError::at("write", &cfg))?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    r
}

/// fedora-live-netroot's livecd-iso-to-pxenetroot: add the ISO's root image to the netroot
/// tree `out` (see [`make_netroot`]); returns the label.
pub fn iso_to_netroot(iso: &Path, out: &Path, server: &str) -> Result<String, MediaError> {
    let work = out.join(".kiln-extract");
    let _ = std::fs::remove_dir_all(&work);
    let r = extract_iso(iso, &work).and_then(|x| {
        make_netroot(&x.parts, out, server, None)?;
        Ok(x.parts.label)
    });
    let _ = std::fs::remove_dir_all(&work);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_is_newc() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("x");
        std::fs::write(&f, b"hello").unwrap();
        let mut v = Vec::new();
        write_cpio(&mut v, &[("a.img", &f)]).unwrap();
        assert!(v.starts_with(b"070701"));
        assert_eq!(v.len() % 4, 0);
        let s = String::from_utf8_lossy(&v);
        assert!(s.contains("a.img\0") && s.contains("hello") && s.contains("TRAILER!!!"));
    }

    #[test]
    fn nbd_conf_replaces_section() {
        let c = nbd_conf_with("", "A", Path::new("/x/a.img"));
        let c = nbd_conf_with(&c, "B", Path::new("/x/b.img"));
        let c = nbd_conf_with(&c, "A", Path::new("/y/a.img"));
        assert_eq!(c.matches("[generic]").count(), 1);
        assert_eq!(c.matches("[A]").count(), 1);
        assert!(c.contains("/y/a.img") && !c.contains("/x/a.img") && c.contains("[B]"));
    }

    #[test]
    fn serial_from_console() {
        assert_eq!(
            pxelinux_serial("console=tty0 console=ttyS0,115200n8"),
            "SERIAL 0 115200\n"
        );
        assert_eq!(pxelinux_serial("quiet"), "");
        assert_eq!(
            extra_args(
                "root=live:CDLABEL=X rd.live.image rd.live.overlay.overlayfs=1 console=ttyS0"
            ),
            "console=ttyS0"
        );
    }
}
