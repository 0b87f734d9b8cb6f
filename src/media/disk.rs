//! Disk outputs of livemedia-creator: `--make-disk` (a GPT disk with an EFI system partition
//! and an ext4 root, raw or qcow2), `--make-fsimage` (an ext4 image of the root) and
//! `--make-tar`. Nothing is mounted: the ext4 file systems are populated by `mkfs.ext4 -d`
//! (written straight into the disk at the partition's offset), the ESP by kiln's FAT writer,
//! the partition table by kiln's GPT writer. The three are the build's [`Disk`], [`FsImage`] and
//! [`Tar`] outputs; copying the root out of an existing image (`--fs-image`, `--disk-image`) is
//! here too.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use kiln_writers::fat::FatOptions;
use kiln_writers::gpt::{self, Gpt, GptPartition, SECTOR};

use super::output::{Artifact, Built, Output};
use super::MediaError;
use crate::arch::ArchInfo;
use crate::error::IoError;

const MIB: u64 = 1 << 20;
/// Partition type "Linux root (x86-64)" of the Discoverable Partitions Specification.
const ROOT_X86_64_TYPE: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";
/// Partition type "Linux filesystem data".
const LINUX_FS_TYPE: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

/// Run `cmd` in its own process group (ended on an interrupt), failing with its output.
pub(crate) fn run_tool(cmd: std::process::Command, what: &str) -> Result<(), MediaError> {
    let on_line = Box::new(|line: &str| tracing::debug!(target: "kiln::tool", "{line}"));
    // Under kiln's guard: a killed kiln takes the tool (and its loop mounts) with it.
    let done =
        crate::cancel::run_captured(crate::pidns::wrap(cmd), on_line, None).map_err(|e| {
            MediaError::Tool {
                cmd: what.to_string(),
                output: e.to_string(),
            }
        })?;
    if done.interrupted {
        return Err(MediaError::Interrupted);
    }
    if !done.status.success() {
        return Err(MediaError::Tool {
            cmd: what.to_string(),
            output: String::from_utf8_lossy(&done.output).into_owned(),
        });
    }
    Ok(())
}

/// A stable UUID (version 4 layout) from `seed`: the same build gives the same disk.
pub fn uuid_from(seed: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0F) | 0x40;
    b[8] = (b[8] & 0x3F) | 0x80;
    let x: String = b.iter().map(|v| format!("{v:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// `--make-disk`: a GPT disk `<label>-disk.raw` (or `.qcow2`) booting with UEFI, its ESP holding
/// the live media's boot loader, kernel and initrd and a GRUB menu for the root by UUID.
#[derive(Debug, Clone)]
pub struct Disk {
    /// The volume label (also the root file system's).
    pub label: String,
    /// The menu entry's title.
    pub title: String,
    /// Kernel arguments beyond `root=`.
    pub kernel_args: String,
    /// The target arch.
    pub arch: &'static ArchInfo,
    /// The root file system's size (MiB; at least 64).
    pub rootfs_size_mb: u64,
    /// Reproducible dates (and UUIDs).
    pub source_date_epoch: Option<i64>,
    /// Convert to qcow2.
    pub qcow2: bool,
}

impl Output for Disk {
    fn needs_root_image(&self) -> bool {
        false
    }

    fn make(&self, built: &Built<'_>, staging: &Path) -> Result<Vec<Artifact>, MediaError> {
        let label = &self.label;
        let uuid = uuid_from(&format!(
            "{label} {}",
            self.source_date_epoch
                .unwrap_or_else(|| std::process::id() as i64)
        ));
        let spec = DiskSpec {
            root: built.root.to_path_buf(),
            esp: self.prepare_esp(built, &uuid)?,
            root_size: self.rootfs_size_mb.max(64) * MIB,
            label: label.clone(),
            root_uuid: uuid,
            x86_64: self.arch.name == "x86_64",
            epoch: self.source_date_epoch,
        };
        let raw = staging.join(format!("{label}-disk.raw"));
        make_disk(&spec, &raw)?;
        let (out, kind) = if self.qcow2 {
            let qcow2 = staging.join(format!("{label}-disk.qcow2"));
            let converted = to_qcow2(&raw, &qcow2);
            let _ = std::fs::remove_file(&raw);
            converted?;
            (qcow2, "disk-qcow2")
        } else {
            (raw, "disk-raw")
        };
        Ok(vec![Artifact::file(out, kind)?])
    }
}

impl Disk {
    /// The ESP's tree in the work directory: the live media's EFI boot files, the kernel and
    /// initrd, and a grub.cfg booting the root `root_uuid`.
    fn prepare_esp(&self, built: &Built<'_>, root_uuid: &str) -> Result<PathBuf, MediaError> {
        let efi_files = built.boot.efi_dir.as_ref().ok_or_else(|| {
            MediaError::NotLive(format!(
                "--make-disk boots with UEFI, and {} has no EFI boot loader here",
                self.arch.name
            ))
        })?;
        let esp = built.work.join("disk-esp");
        let _ = std::fs::remove_dir_all(&esp);
        super::output::copy_tree(efi_files, &esp)?;
        for (src, name) in [(built.vmlinuz(), "vmlinuz"), (built.initrd(), "initrd.img")] {
            std::fs::copy(&src, esp.join(name)).map_err(IoError::at("copy", &src))?;
        }
        let mut args = format!("root=UUID={root_uuid} rw");
        if !self.kernel_args.trim().is_empty() {
            args.push(' ');
            args.push_str(self.kernel_args.trim());
        }
        let serial = self
            .arch
            .grub_serial_for
            .is_some_and(|dev| self.kernel_args.contains(&format!("console={dev}")));
        let cfg = esp.join(crate::boot::layout::EFI_DIR).join("grub.cfg");
        std::fs::write(&cfg, disk_grub_cfg(&self.title, &args, serial))
            .map_err(IoError::at("write", &cfg))?;
        Ok(esp)
    }
}

/// `--make-fsimage`: an ext4 image `<label>-rootfs.img` of the root.
#[derive(Debug, Clone)]
pub struct FsImage {
    /// The volume label.
    pub label: String,
    /// The file system's size (MiB; at least 64).
    pub rootfs_size_mb: u64,
    /// Reproducible dates.
    pub source_date_epoch: Option<i64>,
}

impl Output for FsImage {
    fn needs_root_image(&self) -> bool {
        false
    }

    fn make(&self, built: &Built<'_>, staging: &Path) -> Result<Vec<Artifact>, MediaError> {
        let out = staging.join(format!("{}-rootfs.img", self.label));
        mkfs_ext4(
            built.root,
            &out,
            0,
            self.rootfs_size_mb.max(64) * MIB,
            &self.label,
            None,
            self.source_date_epoch,
        )?;
        Ok(vec![Artifact::file(out, "fsimage")?])
    }
}

/// `--make-tar`: the root as `<label>-root.<suffix>`.
#[derive(Debug, Clone)]
pub struct Tar {
    /// The volume label.
    pub label: String,
    /// The compressor `tar` runs (empty: none) and the file suffix ([`tar_compressor`]).
    pub compressor: (String, String),
}

impl Output for Tar {
    fn needs_root_image(&self) -> bool {
        false
    }

    fn make(&self, built: &Built<'_>, staging: &Path) -> Result<Vec<Artifact>, MediaError> {
        let (program, suffix) = &self.compressor;
        let out = staging.join(format!("{}-root.{suffix}", self.label));
        make_tar(built.root, &out, program)?;
        Ok(vec![Artifact::file(out, "tar")?])
    }
}

/// `mkfs.ext4 -d root` into `img` (created or extended as needed), `size` bytes at `offset`,
/// with the root's sidecar ([`crate::attrs`]) set in it.
pub fn mkfs_ext4(
    root: &Path,
    img: &Path,
    offset: u64,
    size: u64,
    label: &str,
    uuid: Option<&str>,
    epoch: Option<i64>,
) -> Result<(), MediaError> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(img)
        .map_err(IoError::at("open", img))?;
    if f.metadata().map_err(IoError::at("read", img))?.len() < offset + size {
        f.set_len(offset + size)
            .map_err(IoError::at("write", img))?;
    }
    drop(f);
    let mut cmd = std::process::Command::new("mkfs.ext4");
    // ext4 labels hold 16 bytes.
    let label: String = label.chars().take(16).collect();
    cmd.args(["-q", "-F", "-L", &label, "-d"]).arg(root);
    if let Some(u) = uuid {
        cmd.args(["-U", u]);
    }
    if offset > 0 {
        cmd.args(["-E", &format!("offset={offset}")]);
    }
    cmd.arg(img).arg(format!("{}k", size / 1024));
    if let Some(e) = epoch {
        cmd.env("E2FSPROGS_FAKE_TIME", e.to_string());
    }
    run_tool(
        cmd,
        &format!("mkfs.ext4 -d {} {}", root.display(), img.display()),
    )?;
    // What a rootless build could not put on disk (nothing for a root build).
    super::ext4_attrs::apply(root, img, offset, epoch)
}

/// What a disk image is made of.
#[derive(Debug, Clone)]
pub struct DiskSpec {
    /// The configured root.
    pub root: PathBuf,
    /// The EFI system partition's tree (`EFI/BOOT/BOOTX64.EFI`, kernel, initrd, grub.cfg).
    pub esp: PathBuf,
    /// The root file system's size in bytes.
    pub root_size: u64,
    /// Root file system label.
    pub label: String,
    /// The root file system's UUID (the kernel's `root=UUID=`).
    pub root_uuid: String,
    /// x86_64 root type (else generic Linux data).
    pub x86_64: bool,
    /// Reproducible dates.
    pub epoch: Option<i64>,
}

/// Partition offsets of a written disk, for the report and the tests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DiskLayout {
    /// ESP start and length in bytes.
    pub esp: (u64, u64),
    /// Root start and length in bytes.
    pub root: (u64, u64),
    /// Whole disk.
    pub size: u64,
}

/// Write the raw GPT disk `out`: partition 1 the ESP (FAT), partition 2 the ext4 root, both
/// aligned to 1 MiB.
pub fn make_disk(spec: &DiskSpec, out: &Path) -> Result<DiskLayout, MediaError> {
    let tree = super::scan(&spec.esp, false)?;
    let (fat, _) = kiln_writers::fat::build_fat(
        &tree,
        &FatOptions {
            label: Some("EFI".into()),
            serial: None,
            clamp_mtime: spec.epoch,
            // Room for a kernel update.
            extra_bytes: 32 * MIB,
        },
    )
    .map_err(|source| MediaError::Fat {
        out: out.to_path_buf(),
        source,
    })?;
    let esp_start = MIB;
    let esp_len = (fat.len() as u64).div_ceil(MIB) * MIB;
    let root_start = esp_start + esp_len;
    let root_len = spec.root_size.div_ceil(MIB) * MIB;
    // 1 MiB at the end for the backup GPT.
    let size = root_start + root_len + MIB;
    let _ = std::fs::remove_file(out);
    {
        let mut f =
            super::CancelWriter(std::fs::File::create(out).map_err(IoError::at("create", out))?);
        f.0.set_len(size).map_err(IoError::at("write", out))?;
        let disk_guid = uuid_bytes(&uuid_from(&format!("disk {}", spec.root_uuid)));
        let g = Gpt {
            disk_guid,
            disk_sectors: size / SECTOR,
            slots: 128,
            partitions: vec![
                GptPartition {
                    type_guid: gpt::guid(gpt::ESP_TYPE),
                    guid: uuid_bytes(&uuid_from(&format!("esp {}", spec.root_uuid))),
                    first_lba: esp_start / SECTOR,
                    last_lba: (esp_start + esp_len) / SECTOR - 1,
                    attributes: 0,
                    name: "EFI System Partition".into(),
                },
                GptPartition {
                    type_guid: gpt::guid(if spec.x86_64 {
                        ROOT_X86_64_TYPE
                    } else {
                        LINUX_FS_TYPE
                    }),
                    guid: uuid_bytes(&uuid_from(&format!("root {}", spec.root_uuid))),
                    first_lba: root_start / SECTOR,
                    last_lba: (root_start + root_len) / SECTOR - 1,
                    attributes: 0,
                    name: "root".into(),
                },
            ],
        };
        // Protective MBR: one 0xEE partition over the disk.
        let mut mbr = [0u8; 512];
        gpt::set_mbr_table(
            &mut mbr,
            &[gpt::mbr_entry(false, 0xEE, 1, size / SECTOR - 1)],
        );
        f.write_all(&mbr).map_err(IoError::at("write", out))?;
        f.write_all(&g.primary())
            .map_err(IoError::at("write", out))?;
        let backup = g.backup();
        f.seek(SeekFrom::Start(size - backup.len() as u64))
            .map_err(IoError::at("write", out))?;
        f.write_all(&backup).map_err(IoError::at("write", out))?;
        f.seek(SeekFrom::Start(esp_start))
            .map_err(IoError::at("write", out))?;
        f.write_all(&fat).map_err(IoError::at("write", out))?;
        f.flush().map_err(IoError::at("write", out))?;
    }
    mkfs_ext4(
        &spec.root,
        out,
        root_start,
        root_len,
        &spec.label,
        Some(&spec.root_uuid),
        spec.epoch,
    )?;
    Ok(DiskLayout {
        esp: (esp_start, esp_len),
        root: (root_start, root_len),
        size,
    })
}

/// On-disk (mixed-endian) bytes of a UUID in text form.
fn uuid_bytes(text: &str) -> [u8; 16] {
    gpt::guid(text)
}

/// `qemu-img convert -O qcow2 raw out`.
pub fn to_qcow2(raw: &Path, out: &Path) -> Result<(), MediaError> {
    let mut cmd = std::process::Command::new("qemu-img");
    cmd.args(["convert", "-O", "qcow2"]).arg(raw).arg(out);
    run_tool(
        cmd,
        "qemu-img convert -O qcow2 (apt-get install qemu-utils)",
    )
}

/// The compressor `tar` runs for a squashfs codec name, and the file suffix.
pub fn tar_compressor(codec: &str) -> (&'static str, &'static str) {
    match codec {
        "zstd" => ("zstd -T0 -3", "tar.zst"),
        "gzip" => ("gzip", "tar.gz"),
        "lz4" => ("lz4", "tar.lz4"),
        "none" => ("", "tar"),
        _ => ("xz -T0", "tar.xz"),
    }
}

/// `--make-tar`: the root as a tar archive with owners, modes, xattrs and ACLs (GNU tar), and
/// what the root's sidecar holds ([`crate::attrs`], a rootless build's) set in it.
pub fn make_tar(root: &Path, out: &Path, compressor: &str) -> Result<(), MediaError> {
    const ARGS: [&str; 6] = [
        "--create",
        "--numeric-owner",
        "--xattrs",
        "--xattrs-include=*",
        "--acls",
        "--sparse",
    ];
    let store = crate::attrs::AttrStore::load(root)?;
    if !store.is_empty() {
        return super::tar_attrs::make_tar(root, &store, out, compressor, &ARGS);
    }
    let mut cmd = std::process::Command::new("tar");
    cmd.args(ARGS);
    if !compressor.is_empty() {
        cmd.args(["--use-compress-program", compressor]);
    }
    cmd.arg("--file").arg(out).arg("-C").arg(root).arg(".");
    run_tool(cmd, &format!("tar --create --file {}", out.display()))
}

/// The byte range of the root file system in `disk`: the GPT partition typed as a Linux root
/// or Linux data (the largest), read from the primary table.
pub fn root_partition(disk: &Path) -> Result<(u64, u64), MediaError> {
    use std::io::Read;
    let mut f = std::fs::File::open(disk).map_err(IoError::at("read", disk))?;
    let mut hdr = [0u8; 512];
    f.seek(SeekFrom::Start(SECTOR))
        .map_err(IoError::at("read", disk))?;
    f.read_exact(&mut hdr).map_err(IoError::at("read", disk))?;
    if &hdr[..8] != b"EFI PART" {
        return Err(MediaError::NotLive(format!(
            "`{}` has no GPT (a raw disk image is needed; convert qcow2 with qemu-img)",
            disk.display()
        )));
    }
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or([0; 8]));
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or([0; 4]));
    let (array, count, size) = (u64_at(&hdr, 72), u32_at(&hdr, 80), u32_at(&hdr, 84));
    let mut entries = vec![0u8; (count as usize).min(1024) * size as usize];
    f.seek(SeekFrom::Start(array * SECTOR))
        .map_err(IoError::at("read", disk))?;
    f.read_exact(&mut entries)
        .map_err(IoError::at("read", disk))?;
    let linux = [gpt::guid(ROOT_X86_64_TYPE), gpt::guid(LINUX_FS_TYPE)];
    entries
        .chunks(size.max(128) as usize)
        .filter(|e| linux.iter().any(|g| e[..16] == g[..]))
        .map(|e| {
            let (first, last) = (u64_at(e, 32), u64_at(e, 40));
            (first * SECTOR, (last + 1 - first) * SECTOR)
        })
        .max_by_key(|(_, len)| *len)
        .ok_or_else(|| {
            MediaError::NotLive(format!("`{}` has no Linux root partition", disk.display()))
        })
}

/// Copy the file system in `img` (at `offset`, `len` bytes; whole file when `len` is 0) into
/// the empty directory `root`, as livemedia-creator's `--fs-image`/`--disk-image` reuse an
/// image. The loop mount lives in a private mount namespace (`unshare -m`) and is read-only
/// with autoclear: when the copy ends, or kiln is killed, the mount and the loop device go.
pub fn copy_out_image(img: &Path, offset: u64, len: u64, root: &Path) -> Result<(), MediaError> {
    std::fs::create_dir_all(root).map_err(IoError::at("create", root))?;
    let mnt = root.with_extension("kiln-mnt");
    std::fs::create_dir_all(&mnt).map_err(IoError::at("create", &mnt))?;
    let mut opts = format!("ro,loop,offset={offset}");
    if len > 0 {
        opts.push_str(&format!(",sizelimit={len}"));
    }
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-ec"])
        // mkfs's lost+found is the file system's, not the root's.
        .arg("mount -o \"$1\" \"$2\" \"$3\"; cp -a \"$3\"/. \"$4\"/; rmdir \"$4/lost+found\" 2>/dev/null || true")
        .arg("sh")
        .arg(&opts)
        .arg(img)
        .arg(&mnt)
        .arg(root);
    let r = run_tool(
        cmd,
        &format!(
            "copying the root out of `{}` (mount -o {opts})",
            img.display()
        ),
    );
    let _ = std::fs::remove_dir(&mnt);
    r
}

/// The GRUB menu of a disk image: kernel and initrd on the ESP, the root by UUID.
pub fn disk_grub_cfg(title: &str, args: &str, serial: bool) -> String {
    format!(
        "# written by kiln for a disk image\n{}set timeout=1\nmenuentry '{title}' {{\n\tlinux /vmlinuz {args}\n\tinitrd /initrd.img\n}}\n",
        if serial {
            "serial --unit=0 --speed=115200\nterminal_input console serial\nterminal_output console serial\n"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        let u = uuid_from("x");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_eq!(u, uuid_from("x"));
        assert_ne!(u, uuid_from("y"));
    }
}
