//! The live media: the root as `LiveOS/squashfs.img` ([`RootImage`]: squashfs or EROFS, either
//! optionally holding an ext4 `LiveOS/rootfs.img`, livecd-creator's classic layout; lorax's
//! `--rootfs-type`), with the EROFS algorithm the target's kernel reads
//! ([`erofs_compression_for`]) and the precompressor that compresses
//! its blocks while the root is still being built; and two outputs made from it: the image
//! itself ([`RootImageFile`], `--image-only`/`--keep-image`) and the hybrid ISO ([`LiveIso`]:
//! the EFI system partition image, El Torito BIOS + UEFI entries, MBR + GPT and an implanted
//! media checksum, Fedora's layout; for Open Firmware a CHRP volume with untranslated names,
//! lorax's ppc64le layout).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kiln_writers::fat::FatOptions;
use kiln_writers::iso9660::{BiosBoot, Hybrid, IsoOptions, MbrStyle};
use kiln_writers::squashfs::{BlockCache, Precompressor};
use kiln_writers::tree::{FsTree, ScanOptions};

use super::block_store::{BlockStore, CacheUse};
use super::output::{Artifact, Built, Output};
use super::{
    or_interrupted, squashfs_cancel, CancelWriter, ErofsAlgorithm, ErofsCompression, MediaError,
    RootfsType, SquashfsOptions,
};
use crate::boot::layout;
use crate::error::IoError;

/// How the root becomes the live root image `LiveOS/squashfs.img`.
#[derive(Debug, Clone)]
pub struct RootImage {
    /// squashfs settings (its thread count also serves EROFS).
    pub squashfs: SquashfsOptions,
    /// squashfs or EROFS, of the root or of an ext4 image (`LiveOS/rootfs.img`) of it.
    pub rootfs_type: RootfsType,
    /// EROFS settings, the compression already settled ([`erofs_compression_for`]).
    pub erofs: ErofsRoot,
    /// The ext4 image's size (MiB).
    pub rootfs_size_mb: u64,
    /// The volume label (seeds the ext4 UUID of reproducible builds).
    pub label: String,
    /// Reproducible dates.
    pub source_date_epoch: Option<i64>,
}

/// The EROFS root image's settings (`--erofs-compression`, `--erofs-pcluster`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErofsRoot {
    /// The algorithm and level; `None`: uncompressed. Before [`erofs_compression_for`] settles
    /// it against the target's kernel: the one asked for, `None` meaning "the kernel's best".
    pub compression: Option<ErofsCompression>,
    /// Physical cluster size in bytes (mkfs.erofs `-C`).
    pub pcluster_size: u32,
}

impl Default for ErofsRoot {
    fn default() -> Self {
        ErofsRoot {
            compression: None,
            // mkfs.erofs' default: one block.
            pcluster_size: 4096,
        }
    }
}

/// The root image as a result of its own (`--image-only`, `--keep-image`): `squashfs.img`.
#[derive(Debug, Clone)]
pub struct RootImageFile {
    /// Moved out of the media tree (`--image-only`: nothing else uses it) rather than copied.
    pub move_out: bool,
    /// What the image is (its artifact kind: `squashfs` or `erofs`).
    pub rootfs_type: RootfsType,
}

/// A root image [`RootImage::write`] wrote.
#[derive(Debug, Clone)]
pub struct WrittenImage {
    /// `LiveOS/squashfs.img` in the media tree.
    pub path: PathBuf,
    /// Its length.
    pub bytes: u64,
    /// How the block store and the precompressor served it.
    pub cache: CacheUse,
}

/// The hybrid live ISO `<label>.iso` of the media tree, with the EFI system image.
#[derive(Debug, Clone)]
pub struct LiveIso {
    /// Volume label; the ISO is `<label>.iso`.
    pub label: String,
    /// Application id.
    pub product: String,
    /// Reproducible dates.
    pub source_date_epoch: Option<i64>,
}

/// Scan one of kiln's own trees (the media tree, the ESP, the ext4 layout's): no sidecar.
fn scan(dir: &Path) -> Result<FsTree, MediaError> {
    FsTree::from_dir(dir, &ScanOptions { xattrs: true }).map_err(|source| MediaError::Scan {
        dir: dir.to_owned(),
        source,
    })
}

impl Output for RootImageFile {
    fn needs_root_image(&self) -> bool {
        true
    }

    fn make(&self, built: &Built<'_>, staging: &Path) -> Result<Vec<Artifact>, MediaError> {
        let image = built.root_image();
        let dst = staging.join("squashfs.img");
        if self.move_out {
            // The staging directory may be on another filesystem than the work directory.
            if std::fs::rename(&image, &dst).is_err() {
                std::fs::copy(&image, &dst).map_err(IoError::at("copy to", &dst))?;
                let _ = std::fs::remove_file(&image);
            }
        } else {
            std::fs::copy(&image, &dst).map_err(IoError::at("copy to", &dst))?;
        }
        let kind = if self.rootfs_type.is_erofs() {
            "erofs"
        } else {
            "squashfs"
        };
        Ok(vec![Artifact::file(dst, kind)?])
    }
}

impl Output for LiveIso {
    fn needs_root_image(&self) -> bool {
        true
    }

    /// On an interrupt ([`crate::cancel`]) it stops within a write with
    /// [`MediaError::Interrupted`], leaving partial files for the caller to remove with
    /// `staging`.
    fn make(&self, built: &Built<'_>, staging: &Path) -> Result<Vec<Artifact>, MediaError> {
        self.write(built, staging).map_err(or_interrupted)
    }
}

impl LiveIso {
    fn write(&self, built: &Built<'_>, staging: &Path) -> Result<Vec<Artifact>, MediaError> {
        let (boot, media_dir) = (built.boot, built.media_dir);
        if let Some(esp) = &boot.efi_dir {
            let img = media_dir.join(layout::EFIBOOT);
            let img_dir = img.parent().unwrap_or(media_dir);
            std::fs::create_dir_all(img_dir).map_err(IoError::at("create", img_dir))?;
            let tree = scan(esp)?;
            tracing::debug!("writing the EFI system image `{}`", img.display());
            let opts = FatOptions {
                label: Some("EFIBOOT".into()),
                serial: None,
                clamp_mtime: self.source_date_epoch,
                extra_bytes: 0,
            };
            let file = std::fs::File::create(&img).map_err(IoError::at("create", &img))?;
            kiln_writers::fat::write_efiboot(&tree, &opts, &mut CancelWriter(file)).map_err(
                |source| MediaError::Fat {
                    out: img.clone(),
                    source,
                },
            )?;
        }
        let iso_path = staging.join(format!("{}.iso", self.label));
        let tree = scan(media_dir)?;
        let efi = boot.efi_dir.is_some();
        let opts = IsoOptions {
            volume_id: self.label.clone(),
            application: self.product.clone(),
            preparer: format!("kiln {}", env!("CARGO_PKG_VERSION")),
            bios_boot: match (&boot.bios_image, &boot.ipl_image) {
                (Some(p), _) => Some(BiosBoot {
                    path: PathBuf::from(p),
                    load_size: 4,
                    boot_info_table: true,
                    grub2_boot_info: !boot.isolinux,
                }),
                // s390x's image, loaded whole at address 0 by the firmware (which reads its
                // length from the directory, as lorax's `-boot-load-size 4` leaves it to):
                // a boot info table would overwrite the kernel's IPL header.
                (None, Some(p)) => Some(BiosBoot {
                    path: PathBuf::from(p),
                    load_size: 4,
                    boot_info_table: false,
                    grub2_boot_info: false,
                }),
                (None, None) => None,
            },
            efi_boot: efi.then(|| PathBuf::from(layout::EFIBOOT)),
            boot_catalog: PathBuf::from(if boot.isolinux {
                "isolinux/boot.cat"
            } else if boot.ipl_image.is_some() {
                crate::boot::s390::layout::BOOT_CATALOG
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
        // Open Firmware media (ppc64le) as lorax makes them (mkisofs `-U -chrp-boot -sysid
        // PPC`): SLOF finds `\ppc\bootinfo.txt` and the core image by their own names in the
        // primary tree, and a disk holding the image shows the volume as a CHRP partition.
        let chrp = boot.ieee1275_image.is_some();
        let opts = IsoOptions {
            untranslated_names: chrp,
            chrp_boot_part: chrp && opts.hybrid.is_none(),
            system_id: if chrp {
                "PPC".into()
            } else {
                opts.system_id.clone()
            },
            ..opts
        };
        tracing::debug!("writing the ISO `{}`", iso_path.display());
        let file = std::fs::File::create(&iso_path).map_err(IoError::at("create", &iso_path))?;
        let out = std::io::BufWriter::with_capacity(1 << 20, CancelWriter(file));
        kiln_writers::iso9660::write_iso(&tree, &opts, out).map_err(|source| MediaError::Iso {
            out: iso_path.clone(),
            source,
        })?;
        Ok(vec![Artifact::file(iso_path, "iso")?])
    }
}

impl RootImage {
    /// Write `root` as the media tree's `LiveOS/squashfs.img` (under `media_dir`), with `work`
    /// as scratch space; returns what was written. On an interrupt it stops within a block
    /// with [`MediaError::Interrupted`].
    pub fn write(
        &self,
        root: &Path,
        media_dir: &Path,
        work: &Path,
    ) -> Result<WrittenImage, MediaError> {
        let image = media_dir.join(layout::SQUASHFS);
        let liveos = image.parent().unwrap_or(media_dir);
        let (bytes, cache) = std::fs::create_dir_all(liveos)
            .map_err(IoError::at("create", liveos))
            .map_err(MediaError::from)
            .and_then(|()| self.write_to(root, &image, work))
            .map_err(or_interrupted)?;
        Ok(WrittenImage {
            path: image,
            bytes,
            cache,
        })
    }

    /// The image's length and how the block store and the precompressor served it.
    fn write_to(
        &self,
        root: &Path,
        image: &Path,
        work: &Path,
    ) -> Result<(u64, CacheUse), MediaError> {
        let tree = if self.rootfs_type.ext4_inside() {
            scan(&self.ext4_tree(root, work)?)?
        } else {
            // With the root's sidecar: a rootless build's owners, devices and xattrs.
            super::scan(root, true)?
        };
        if self.rootfs_type.is_erofs() {
            self.write_erofs(&tree, image)
        } else {
            write_squashfs(&tree, image, &self.squashfs)
        }
    }

    fn write_erofs(&self, tree: &FsTree, out: &Path) -> Result<(u64, CacheUse), MediaError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let opts = kiln_writers::erofs::Options {
            compression: self.erofs.compression,
            pcluster_size: self.erofs.pcluster_size,
            mkfs_time: self.source_date_epoch.map_or(now, |e| e.max(0) as u64),
            clamp_mtime: self.source_date_epoch,
            all_root: false,
            xattrs: true,
            dedup: true,
            threads: self.squashfs.threads,
            // Derived from the content: the same root gives the same image.
            uuid: None,
            volume_name: volume_name(&self.label),
            block_store: self.squashfs.block_store.clone(),
        };
        let erofs_error = |source| MediaError::Erofs {
            out: out.to_owned(),
            source,
        };
        tracing::debug!(
            "compressing {} entries into `{}` (EROFS, {}, pcluster {} bytes)",
            tree.len(),
            out.display(),
            opts.compression
                .map_or("uncompressed".to_string(), |c| format!(
                    "{},{}",
                    c.algorithm.name(),
                    c.level
                )),
            opts.pcluster_size
        );
        let f = std::fs::File::create(out).map_err(IoError::at("create", out))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        let sum = kiln_writers::erofs::write_cancellable(tree, &mut w, &opts, &squashfs_cancel)
            .map_err(erofs_error)?;
        std::io::Write::flush(&mut w).map_err(IoError::at("write", out))?;
        tracing::info!(
            "EROFS root image: {} bytes, {} inodes, {} files ({} deduplicated), {} compressed and \
             {} plain pclusters",
            sum.bytes,
            sum.inodes,
            sum.files,
            sum.duplicates,
            sum.compressed_pclusters,
            sum.plain_pclusters
        );
        let cache = cache_use(
            &opts.block_store,
            sum.segments_from_cache,
            sum.segments_compressed,
            sum.seconds_saved,
        );
        Ok((sum.bytes, cache))
    }

    /// livecd-creator's layout: an ext4 filesystem image of the root, `LiveOS/rootfs.img` in a
    /// directory under `work` (returned) that becomes the root image.
    fn ext4_tree(&self, root: &Path, work: &Path) -> Result<PathBuf, MediaError> {
        let dir = work.join("ext4");
        let liveos = dir.join("LiveOS");
        std::fs::create_dir_all(&liveos).map_err(IoError::at("create", &liveos))?;
        let img = liveos.join("rootfs.img");
        let size = self.rootfs_size_mb.max(64) * 1024 * 1024;
        std::fs::File::create(&img)
            .and_then(|f| f.set_len(size))
            .map_err(IoError::at("create", &img))?;
        let mut cmd = std::process::Command::new("mkfs.ext4");
        cmd.args(["-q", "-F", "-L", "_"]);
        if let Some(e) = self.source_date_epoch {
            cmd.env("E2FSPROGS_FAKE_TIME", e.to_string());
            // mkfs.ext4 picks a random UUID and directory hash seed: derive both instead.
            let uuid = super::disk::uuid_from(&format!("{}:{e}", self.label));
            cmd.args(["-U", &uuid, "-E", &format!("hash_seed={uuid}")]);
        }
        cmd.arg("-d").arg(root).arg(&img);
        // Its own process group, ended on an interrupt.
        let on_line = Box::new(|line: &str| tracing::debug!(target: "kiln::mkfs", "{line}"));
        let cmd = crate::pidns::wrap(cmd);
        let done = crate::cancel::run_captured(cmd, on_line, None).map_err(|e| match e {
            crate::cancel::ChildError::Spawn(e) | crate::cancel::ChildError::Io(e) => {
                MediaError::from(IoError::new("run mkfs.ext4 for", &img, e))
            }
        })?;
        if done.interrupted {
            return Err(MediaError::Interrupted);
        }
        if !done.status.success() {
            return Err(MediaError::Tool {
                cmd: format!("mkfs.ext4 -d {} {}", root.display(), img.display()),
                output: String::from_utf8_lossy(&done.output).into_owned(),
            });
        }
        // What a rootless build could not put on disk (nothing for a root build).
        super::ext4_attrs::apply(root, &img, 0, self.source_date_epoch)?;
        Ok(dir)
    }
}

/// The superblock's volume name: the label, cut to EROFS' 16 bytes at a character boundary.
fn volume_name(label: &str) -> String {
    let mut end = label.len().min(16);
    while !label.is_char_boundary(end) {
        end -= 1;
    }
    label[..end].to_string()
}

/// Whether the kernel configuration `config` builds `option` in or as a module.
fn kernel_has(config: &str, option: &str) -> bool {
    config.lines().any(|l| {
        l.trim()
            .strip_prefix(option)
            .and_then(|rest| rest.strip_prefix('='))
            .is_some_and(|v| v == "y" || v == "m")
    })
}

/// The EROFS compression of the root image, for the root's kernel (its `/boot/config-KVER`):
/// `asked` when that kernel reads it; with nothing asked, lzma when the kernel reads MicroLZMA
/// (lorax's default), else lz4hc, else (a kernel without compressed EROFS) none. An algorithm
/// the kernel cannot read, or a kernel without EROFS, is an error naming the kernel option.
/// Called once the root is installed, before anything is compressed.
pub fn erofs_compression_for(
    root: &Path,
    asked: Option<ErofsCompression>,
) -> Result<Option<ErofsCompression>, MediaError> {
    let default_of = |a: ErofsAlgorithm| {
        ErofsCompression::parse(a.name()).expect("every algorithm parses by its name")
    };
    let kernel = crate::boot::find_kernel(root).ok();
    let config = kernel
        .as_ref()
        .and_then(|k| crate::boot::kernel_config(root, &k.version));
    let (Some(kernel), Some(config)) = (kernel, config) else {
        let chosen = asked.unwrap_or_else(|| default_of(ErofsAlgorithm::Lz4hc));
        tracing::warn!(
            "no kernel configuration in the root (/boot/config-KVER): cannot tell which EROFS \
             algorithms its kernel reads; using {}",
            chosen.algorithm.name()
        );
        return Ok(Some(chosen));
    };
    let kver = &kernel.version;
    if !kernel_has(&config, "CONFIG_EROFS_FS") {
        return Err(MediaError::ErofsKernel(format!(
            "the root's kernel {kver} cannot mount EROFS (CONFIG_EROFS_FS is not set in its \
             configuration): use --rootfs-type squashfs"
        )));
    }
    match asked {
        Some(c) => {
            let option = c.algorithm.kernel_option();
            if !kernel_has(&config, option) {
                let readable: Vec<&str> = ErofsAlgorithm::ALL
                    .into_iter()
                    .filter(|a| kernel_has(&config, a.kernel_option()))
                    .map(|a| a.name())
                    .collect();
                return Err(MediaError::ErofsKernel(format!(
                    "the root's kernel {kver} cannot read EROFS {} ({option} is not set in its \
                     configuration); it reads: {}",
                    c.algorithm.name(),
                    if readable.is_empty() {
                        "uncompressed images only".to_string()
                    } else {
                        readable.join(", ")
                    }
                )));
            }
            Ok(Some(c))
        }
        None => {
            let chosen = [ErofsAlgorithm::Lzma, ErofsAlgorithm::Lz4hc]
                .into_iter()
                .find(|a| kernel_has(&config, a.kernel_option()))
                .map(default_of);
            tracing::info!(
                "EROFS root image: {} (what kernel {kver} reads)",
                chosen.map_or("uncompressed".to_string(), |c| format!(
                    "{},{}",
                    c.algorithm.name(),
                    c.level
                ))
            );
            Ok(chosen)
        }
    }
}

/// The figures of a write that used `store` (or only the precompressor).
fn cache_use(
    store: &Option<BlockStore>,
    from_cache: u64,
    compressed: u64,
    seconds_saved: f64,
) -> CacheUse {
    let counters = store.as_ref().map(BlockStore::counters).unwrap_or_default();
    CacheUse::new(from_cache, compressed, seconds_saved, &counters)
}

fn write_squashfs(
    tree: &FsTree,
    out: &Path,
    opts: &SquashfsOptions,
) -> Result<(u64, CacheUse), MediaError> {
    let f = std::fs::File::create(out).map_err(IoError::at("create", out))?;
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
    let cache = cache_use(
        &opts.block_store,
        sum.blocks_from_cache,
        sum.blocks_compressed,
        sum.seconds_saved,
    );
    Ok((sum.bytes, cache))
}

/// Compressed bytes the precompressor may hold (about 3x that of input with xz).
const PRECOMPRESS_LIMIT: usize = 256 << 20;

/// Start compressing the blocks of `root` on idle cores while it is being built, for a root
/// image written with `squashfs` when its codec is slow (xz, gzip, high zstd levels), skipping
/// and filling `squashfs.block_store`; `None` when it would not pay or cannot start.
/// `KILN_PRECOMPRESS=0` turns it off (to measure what it saves; the store stays in use).
pub fn start_precompress(root: &Path, squashfs: &SquashfsOptions) -> Option<Precompressor> {
    let off = std::env::var_os("KILN_PRECOMPRESS").is_some_and(|v| v == "0");
    if off || !squashfs.codec.is_slow() {
        return None;
    }
    if let Err(e) = std::fs::create_dir_all(root) {
        tracing::debug!("no precompression: {e}");
        return None;
    }
    let threads = match squashfs.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let mut cache = BlockCache::new(
        squashfs.codec.clone(),
        squashfs.block_size,
        PRECOMPRESS_LIMIT,
    );
    // Blocks the store holds are not compressed again; what is compressed goes there too.
    if let Some(store) = &squashfs.block_store {
        cache = cache.with_store(store);
    }
    let cache = Arc::new(cache);
    Precompressor::start(root, cache, threads)
        .map_err(|e| tracing::debug!("no precompression: {e}"))
        .ok()
}

/// Stop the precompressor; its blocks for the squashfs writer ([`SquashfsOptions::block_cache`]).
pub fn finish_precompress(precompressor: Precompressor) -> Arc<BlockCache> {
    let cache = precompressor.cache();
    let stats = precompressor.finish();
    tracing::info!(
        "compressed {} blocks ahead of the squashfs write on idle cores in {:.1} s{}",
        stats.blocks,
        stats.seconds,
        if stats.full {
            " (its memory limit reached)"
        } else {
            ""
        }
    );
    cache
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A root with kernel 6.1.0-9-amd64 and `config` as its /boot/config.
    fn root_with_config(config: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("usr/lib/modules/6.1.0-9-amd64");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join("vmlinuz"), "k").unwrap();
        std::fs::create_dir_all(d.path().join("boot")).unwrap();
        std::fs::write(d.path().join("boot/config-6.1.0-9-amd64"), config).unwrap();
        d
    }

    // Lines as Debian 12's and Fedora 42's kernels have them.
    const DEBIAN: &str = "CONFIG_EROFS_FS=m\n# CONFIG_EROFS_FS_DEBUG is not set\n\
        CONFIG_EROFS_FS_XATTR=y\nCONFIG_EROFS_FS_ZIP=y\n# CONFIG_EROFS_FS_ZIP_LZMA is not set\n";
    const FEDORA: &str = "CONFIG_EROFS_FS=y\nCONFIG_EROFS_FS_ZIP=y\nCONFIG_EROFS_FS_ZIP_LZMA=y\n\
        CONFIG_EROFS_FS_ZIP_DEFLATE=y\nCONFIG_EROFS_FS_ZIP_ZSTD=y\n";

    fn alg(c: Option<ErofsCompression>) -> Option<&'static str> {
        c.map(|c| c.algorithm.name())
    }

    #[test]
    fn default_algorithm_follows_the_kernel() {
        let debian = root_with_config(DEBIAN);
        assert_eq!(
            alg(erofs_compression_for(debian.path(), None).unwrap()),
            Some("lz4hc")
        );
        let fedora = root_with_config(FEDORA);
        assert_eq!(
            alg(erofs_compression_for(fedora.path(), None).unwrap()),
            Some("lzma")
        );
        let no_zip = root_with_config("CONFIG_EROFS_FS=y\n# CONFIG_EROFS_FS_ZIP is not set\n");
        assert_eq!(erofs_compression_for(no_zip.path(), None).unwrap(), None);
    }

    #[test]
    fn an_algorithm_the_kernel_cannot_read_names_its_option() {
        let debian = root_with_config(DEBIAN);
        let lzma = ErofsCompression::parse("lzma,9").unwrap();
        let e = erofs_compression_for(debian.path(), Some(lzma))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CONFIG_EROFS_FS_ZIP_LZMA"), "{e}");
        assert!(e.contains("lz4, lz4hc"), "{e}");
        let lz4 = ErofsCompression::parse("lz4").unwrap();
        assert_eq!(
            erofs_compression_for(debian.path(), Some(lz4)).unwrap(),
            Some(lz4)
        );
        let none = root_with_config("# CONFIG_EROFS_FS is not set\n");
        let e = erofs_compression_for(none.path(), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("CONFIG_EROFS_FS "), "{e}");
    }

    #[test]
    fn volume_name_is_cut_at_16_bytes_on_a_char_boundary() {
        assert_eq!(volume_name("KILN-EROFS"), "KILN-EROFS");
        assert_eq!(volume_name("Fedora-WS-Live-42-1-1"), "Fedora-WS-Live-4");
        assert_eq!(volume_name("aaaaaaaaaaaaaaaé"), "aaaaaaaaaaaaaaa");
    }
}
