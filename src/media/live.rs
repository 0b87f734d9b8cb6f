//! The live ISO: the root as LiveOS/squashfs.img (optionally holding an ext4 LiveOS/rootfs.img,
//! livecd-creator's classic layout), the EFI system partition image, and the hybrid ISO with
//! El Torito BIOS + UEFI entries, MBR + GPT and an implanted media checksum (Fedora's layout).

use std::path::{Path, PathBuf};

use kiln_writers::fat::FatOptions;
use kiln_writers::iso9660::{BiosBoot, Hybrid, IsoOptions, MbrStyle};
use kiln_writers::tree::{FsTree, ScanOptions};

use super::{or_interrupted, squashfs_cancel, CancelWriter, MediaError, SquashfsOptions};
use crate::boot::{layout, BootAssets};

/// What to build.
#[derive(Debug, Clone)]
pub struct LiveIso {
    /// The installed, configured root.
    pub root: PathBuf,
    /// The ISO staging directory (boot files already in it).
    pub iso_dir: PathBuf,
    /// Scratch space.
    pub work: PathBuf,
    /// Volume label; the ISO is `<label>.iso`.
    pub label: String,
    /// Application id.
    pub product: String,
    /// squashfs settings.
    pub squashfs: SquashfsOptions,
    /// ext4 image inside the squashfs.
    pub ext4_in_squashfs: bool,
    /// ext4 image size (MiB).
    pub rootfs_size_mb: u64,
    /// Reproducible dates.
    pub source_date_epoch: Option<i64>,
    /// Only the root image.
    pub image_only: bool,
    /// Keep the root image beside the ISO.
    pub keep_image: bool,
    /// Write the ISO (else only the root image, for the other outputs).
    pub write_iso: bool,
}

/// Something a build produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Artifact {
    /// Path.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Media type (`iso`, `squashfs`, ...).
    pub kind: String,
}

fn io(p: &Path) -> impl FnOnce(std::io::Error) -> MediaError {
    let path = p.to_path_buf();
    move |source| MediaError::Output { path, source }
}

fn scan(dir: &Path) -> Result<FsTree, MediaError> {
    FsTree::from_dir(dir, &ScanOptions { xattrs: true }).map_err(|source| MediaError::Scan {
        dir: dir.to_owned(),
        source,
    })
}

impl LiveIso {
    /// Build the images into `staging`; returns what was made there. On an interrupt
    /// ([`crate::cancel`]) it stops within a block or write with [`MediaError::Interrupted`],
    /// leaving partial files for the caller to remove with `staging`.
    pub fn make(&self, boot: &BootAssets, staging: &Path) -> Result<Vec<Artifact>, MediaError> {
        self.make_inner(boot, staging).map_err(or_interrupted)
    }

    fn make_inner(&self, boot: &BootAssets, staging: &Path) -> Result<Vec<Artifact>, MediaError> {
        let mut out = Vec::new();
        let sqfs = self.iso_dir.join(layout::SQUASHFS);
        std::fs::create_dir_all(sqfs.parent().unwrap_or(&self.iso_dir)).map_err(io(&sqfs))?;
        self.write_root_image(&sqfs)?;
        if self.image_only || self.keep_image {
            let dst = staging.join("squashfs.img");
            if self.image_only {
                // The staging directory may be on another filesystem than the work directory.
                if std::fs::rename(&sqfs, &dst).is_err() {
                    std::fs::copy(&sqfs, &dst).map_err(io(&dst))?;
                    let _ = std::fs::remove_file(&sqfs);
                }
            } else {
                std::fs::copy(&sqfs, &dst).map_err(io(&dst))?;
            }
            out.push(made(&dst, "squashfs")?);
            if self.image_only {
                return Ok(out);
            }
        }
        if !self.write_iso {
            return Ok(out);
        }
        if let Some(esp) = &boot.efi_dir {
            let img = self.iso_dir.join(layout::EFIBOOT);
            std::fs::create_dir_all(img.parent().unwrap_or(&self.iso_dir)).map_err(io(&img))?;
            let tree = scan(esp)?;
            tracing::debug!("writing the EFI system image `{}`", img.display());
            let opts = FatOptions {
                label: Some("EFIBOOT".into()),
                serial: None,
                clamp_mtime: self.source_date_epoch,
                extra_bytes: 0,
            };
            let mut f = CancelWriter(std::fs::File::create(&img).map_err(io(&img))?);
            kiln_writers::fat::write_efiboot(&tree, &opts, &mut f).map_err(|source| {
                MediaError::Fat {
                    out: img.clone(),
                    source,
                }
            })?;
        }
        let iso_path = staging.join(format!("{}.iso", self.label));
        let tree = scan(&self.iso_dir)?;
        let efi = boot.efi_dir.is_some();
        let opts = IsoOptions {
            volume_id: self.label.clone(),
            application: self.product.clone(),
            preparer: format!("kiln {}", env!("CARGO_PKG_VERSION")),
            bios_boot: boot.bios_image.as_ref().map(|p| BiosBoot {
                path: PathBuf::from(p),
                load_size: 4,
                boot_info_table: true,
                grub2_boot_info: !boot.isolinux,
            }),
            efi_boot: efi.then(|| PathBuf::from(layout::EFIBOOT)),
            boot_catalog: PathBuf::from(if boot.isolinux {
                "isolinux/boot.cat"
            } else {
                layout::BOOT_CATALOG
            }),
            hybrid: match (&boot.hybrid_mbr, &boot.bios_image) {
                (Some(mbr), _) => Some(Hybrid {
                    mbr_template: mbr.clone(),
                    style: MbrStyle::detect(mbr),
                    gpt: efi,
                    append_efi: efi,
                }),
                // UEFI-only media (aarch64): a GPT with the ISO and the EFI system partition
                // behind a protective MBR without boot code, for USB sticks.
                (None, None) if efi => Some(Hybrid {
                    mbr_template: Vec::new(),
                    style: MbrStyle::Grub2,
                    gpt: true,
                    append_efi: true,
                }),
                _ => None,
            },
            implant_md5: true,
            source_date_epoch: self.source_date_epoch,
            ..IsoOptions::default()
        };
        tracing::debug!("writing the ISO `{}`", iso_path.display());
        let f = std::fs::File::create(&iso_path).map_err(io(&iso_path))?;
        let w = std::io::BufWriter::with_capacity(1 << 20, CancelWriter(f));
        kiln_writers::iso9660::write_iso(&tree, &opts, w).map_err(|source| MediaError::Iso {
            out: iso_path.clone(),
            source,
        })?;
        out.push(made(&iso_path, "iso")?);
        Ok(out)
    }

    fn write_root_image(&self, sqfs: &Path) -> Result<(), MediaError> {
        if !self.ext4_in_squashfs {
            let tree = scan(&self.root)?;
            return write_squashfs(&tree, sqfs, &self.squashfs);
        }
        // livecd-creator's layout: an ext4 filesystem image of the root inside the squashfs.
        let dir = self.work.join("ext4");
        let liveos = dir.join("LiveOS");
        std::fs::create_dir_all(&liveos).map_err(io(&liveos))?;
        let img = liveos.join("rootfs.img");
        let size = self.rootfs_size_mb.max(64) * 1024 * 1024;
        std::fs::File::create(&img)
            .and_then(|f| f.set_len(size))
            .map_err(io(&img))?;
        let mut cmd = std::process::Command::new("mkfs.ext4");
        cmd.args(["-q", "-F", "-L", "_"]);
        if let Some(e) = self.source_date_epoch {
            cmd.env("E2FSPROGS_FAKE_TIME", e.to_string());
            // mkfs.ext4 picks a random UUID and directory hash seed: derive both instead.
            let uuid = derived_uuid(&format!("{}:{e}", self.label));
            cmd.args(["-U", &uuid, "-E", &format!("hash_seed={uuid}")]);
        }
        cmd.arg("-d").arg(&self.root).arg(&img);
        // Its own process group, ended on an interrupt.
        let on_line = Box::new(|line: &str| tracing::debug!(target: "kiln::mkfs", "{line}"));
        let cmd = crate::pidns::wrap(cmd);
        let done = crate::cancel::run_captured(cmd, on_line, None).map_err(|e| match e {
            crate::cancel::ChildError::Spawn(e) | crate::cancel::ChildError::Io(e) => io(&img)(e),
        })?;
        if done.interrupted {
            return Err(MediaError::Interrupted);
        }
        if !done.status.success() {
            return Err(MediaError::Tool {
                cmd: format!("mkfs.ext4 -d {} {}", self.root.display(), img.display()),
                output: String::from_utf8_lossy(&done.output).into_owned(),
            });
        }
        let tree = scan(&dir)?;
        write_squashfs(&tree, sqfs, &self.squashfs)
    }
}

fn write_squashfs(tree: &FsTree, out: &Path, opts: &SquashfsOptions) -> Result<(), MediaError> {
    let f = std::fs::File::create(out).map_err(io(out))?;
    tracing::debug!(
        "compressing {} entries into `{}`",
        tree.len(),
        out.display()
    );
    let sum = kiln_writers::squashfs::write_cancellable(tree, f, opts, &squashfs_cancel).map_err(
        |source| MediaError::Squashfs {
            out: out.to_owned(),
            source,
        },
    )?;
    if opts.block_cache.is_some() {
        tracing::info!(
            "{} data blocks of `{}` came from the precompressor",
            sum.cached_blocks,
            out.display()
        );
    }
    Ok(())
}

fn made(p: &Path, kind: &str) -> Result<Artifact, MediaError> {
    let size = std::fs::metadata(p).map_err(io(p))?.len();
    Ok(Artifact {
        path: p.to_path_buf(),
        size,
        kind: kind.to_string(),
    })
}

/// A version-4-shaped UUID from the SHA-256 of `seed` (reproducible builds).
fn derived_uuid(seed: &str) -> String {
    use sha2::Digest;
    let mut b: [u8; 16] = sha2::Sha256::digest(seed.as_bytes())[..16]
        .try_into()
        .expect("16 bytes");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
