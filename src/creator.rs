//! The staged pipeline, in the spirit of python-imgcreate's ImageCreator: prepare, install,
//! configure, finalize (boot assets), package — callable one by one or all with
//! [`Creator::create`], each timed; a shell into the root between stages; packagers as hooks.
//!
//! Everything lives in a work directory that is removed when the creator is dropped (unless
//! `nocleanup`); results are written to a staging directory inside the result directory
//! (`.kiln-partial-<pid>-<n>`, so the final rename stays on one filesystem) and renamed into
//! place only when the whole build succeeded. An interrupt ([`crate::cancel`]) stops the running
//! stage at its next check, ends its child processes and fails the build with
//! [`BuildError::Interrupted`]; the same cleanup as for any failure follows. Chroot mounts live
//! in the scriptlet helper's private mount namespace and vanish with it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::arch::ArchInfo;
use crate::install::scriptlet::ScriptRunner;
use crate::install::transaction::{self, InstallOptions, InstallReport};
use crate::kickstart::Kickstart;
use crate::progress::{DownloadReporter, InstallReporter};

/// A stage of the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum Stage {
    /// Work directories, `%pre`.
    Prepare,
    /// Resolve, download, install the packages.
    Install,
    /// Kickstart configuration and `%post`.
    Configure,
    /// Boot assets: initramfs, boot loaders, menus.
    Finalize,
    /// Images: squashfs, EFI image, ISO.
    Package,
}

impl Stage {
    /// All stages in order.
    pub const ALL: [Stage; 5] = [
        Stage::Prepare,
        Stage::Install,
        Stage::Configure,
        Stage::Finalize,
        Stage::Package,
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Prepare => "prepare",
            Stage::Install => "install",
            Stage::Configure => "configure",
            Stage::Finalize => "finalize",
            Stage::Package => "package",
        }
    }

    /// Parse a CLI name.
    pub fn from_name(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.name() == s)
    }
}

/// Everything a build needs, validated (the CLI builds it from flags + kickstart).
#[derive(Debug, Clone)]
pub struct BuildSettings {
    /// The kickstart file (kept with the results).
    pub ks_path: PathBuf,
    /// The parsed kickstart.
    pub ks: Kickstart,
    /// Target arch.
    pub arch: &'static ArchInfo,
    /// Resolution options.
    pub resolve: crate::resolve::ResolveOptions,
    /// Package signature checking (`--gpgcheck`, `--gpgkey`, `--nogpgcheck`).
    pub gpg: crate::repo::GpgOptions,
    /// Parallel downloads.
    pub jobs: usize,
    /// Where results go.
    pub resultdir: PathBuf,
    /// Where the work directory is made.
    pub tmpdir: PathBuf,
    /// Volume label (`-f/--fslabel`), also the ISO's base name.
    pub label: String,
    /// Menu title (`--title`).
    pub title: String,
    /// Product name (`--product`).
    pub product: String,
    /// squashfs codec options.
    pub squashfs: crate::media::SquashfsOptions,
    /// LiveOS/squashfs.img holds LiveOS/rootfs.img (ext4), livecd-creator's classic layout.
    pub ext4_in_squashfs: bool,
    /// ext4 image size in MiB (`part / --size`).
    pub rootfs_size_mb: u64,
    /// ISOLINUX for BIOS instead of GRUB.
    pub syslinux: bool,
    /// Boot menu templates.
    pub templates: Option<PathBuf>,
    /// Extra kernel arguments (`--kernel-args` + `bootloader --append`).
    pub kernel_args: String,
    /// Menu timeout.
    pub timeout: u32,
    /// Keep the work directory.
    pub nocleanup: bool,
    /// `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: Option<i64>,
    /// Only the root image, no ISO (`--image-only`).
    pub image_only: bool,
    /// Keep the root image beside the ISO (`--keep-image`).
    pub keep_image: bool,
    /// Run no scriptlets (debugging).
    pub no_scripts: bool,
    /// Do not check the packages' header and payload digests (`--nodigest`).
    pub no_digest: bool,
    /// What to make besides (or instead of) the ISO.
    pub outputs: Outputs,
    /// Reuse this image's root instead of installing and configuring (`--fs-image`: an ext4
    /// image; `--disk-image`: a raw GPT disk, its Linux root partition).
    pub reuse: Option<Reuse>,
}

/// An existing image to build from (livemedia-creator's `--fs-image` / `--disk-image`).
#[derive(Debug, Clone)]
pub enum Reuse {
    /// A file system image.
    FsImage(PathBuf),
    /// A raw GPT disk image.
    DiskImage(PathBuf),
}

/// The media a build makes; any combination, all from one installed root.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// The live ISO.
    pub iso: bool,
    /// `--make-pxe-live`: kernel, initrd, root image and PXE/GRUB netboot configs.
    pub pxe_live: bool,
    /// `--make-netroot`: a netroot tree (nbd-server export + pxelinux).
    pub netroot: bool,
    /// `--make-disk`: a GPT disk (ESP + ext4 root) booting with UEFI.
    pub disk: bool,
    /// The disk as qcow2 (`--qcow2`).
    pub qcow2: bool,
    /// `--make-fsimage`: an ext4 image of the root.
    pub fsimage: bool,
    /// `--make-tar`: a tar archive of the root.
    pub tar: bool,
    /// The tar compressor (`tar --use-compress-program`; empty: none) and file suffix.
    pub tar_compressor: (String, String),
}

pub use crate::media::live::Artifact;

/// What a build did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BuildReport {
    /// Stage timings.
    pub stages: Vec<(String, f64)>,
    /// Installed packages.
    pub packages: Vec<String>,
    /// Artifacts.
    pub artifacts: Vec<Artifact>,
    /// Warnings collected on the way.
    pub warnings: Vec<String>,
    /// Boot details.
    pub boot: Option<crate::boot::BootAssets>,
    /// Seconds spent running target programs in the root (scriptlets, `%post`, dracut,
    /// grub-mkimage); under emulation when `emulation` is set.
    pub target_code_secs: f64,
    /// How target code ran when the target arch is not the host's (the binfmt entry used).
    pub emulation: Option<String>,
}

/// A failure of some stage.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Resolving failed.
    #[error("resolving the packages failed")]
    Resolve(#[from] crate::resolve::ResolveError),
    /// Downloading failed.
    #[error("downloading the packages failed")]
    Download(#[from] crate::repo::RepoError),
    /// Installing failed.
    #[error("installing the packages failed")]
    Install(#[from] crate::install::InstallError),
    /// Configuring failed.
    #[error("configuring the root failed")]
    Configure(#[from] crate::configure::ConfigureError),
    /// Boot assets failed.
    #[error("preparing the boot files failed")]
    Boot(#[from] crate::boot::BootError),
    /// Writing media failed.
    #[error("writing the media failed")]
    Media(#[from] crate::media::MediaError),
    /// Target code of another arch cannot be run.
    #[error("cannot run {0} code on this host")]
    Emulation(String, #[source] crate::emulation::EmulationError),
    /// A stage was run out of order.
    #[error("stage `{0}` needs the stages before it")]
    Order(&'static str),
    /// Ctrl-C.
    #[error("interrupted")]
    Interrupted,
    /// I/O on a named path.
    #[error("failed to {action} `{path}`")]
    Io {
        /// What.
        action: &'static str,
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

impl BuildError {
    /// Exit code (1 bad input, 2 environment, 130 interrupted).
    pub fn exit_code(&self) -> i32 {
        match self {
            BuildError::Resolve(e) => e.exit_code(),
            BuildError::Install(e) => e.exit_code(),
            BuildError::Interrupted => 130,
            BuildError::Download(crate::repo::RepoError::Interrupted) => 130,
            BuildError::Download(
                crate::repo::RepoError::Signature { .. } | crate::repo::RepoError::GpgKey { .. },
            ) => 1,
            BuildError::Boot(crate::boot::BootError::NoKernel)
            | BuildError::Boot(crate::boot::BootError::NoDracutLive(_))
            | BuildError::Boot(crate::boot::BootError::Missing { .. }) => 1,
            BuildError::Configure(_) => 1,
            _ => 2,
        }
    }
}

fn io(action: &'static str, p: &Path) -> impl FnOnce(std::io::Error) -> BuildError {
    let path = p.display().to_string();
    move |source| BuildError::Io {
        action,
        path,
        source,
    }
}

/// Progress callbacks for a build.
pub struct Reporters<'a> {
    /// Downloads.
    pub download: &'a dyn DownloadReporter,
    /// Install.
    pub install: &'a dyn InstallReporter,
    /// Stage start/end (name, done?, seconds).
    pub stage: &'a (dyn Fn(Stage, bool, f64) + Sync),
}

/// The staged builder.
pub struct Creator<'a> {
    s: BuildSettings,
    runner: ScriptRunner,
    reporters: Reporters<'a>,
    work: PathBuf,
    /// Holds the work directory's lock: a later build knows it is in use.
    work_owner: crate::stale::OwnedDir,
    root: PathBuf,
    iso: PathBuf,
    done: Vec<Stage>,
    report: BuildReport,
    install_report: Option<InstallReport>,
    /// The package files installed, with the repo each came from (for the manifest).
    package_files: Vec<(PathBuf, String)>,
    /// Compresses the root's blocks on idle cores from install until the squashfs write.
    precompress: Option<kiln_writers::squashfs::Precompressor>,
    /// Keeps binfmt set up for a foreign arch; dropped (undone) with the creator.
    _binfmt: Option<crate::emulation::BinfmtGuard>,
}

/// Compressed bytes the precompressor may hold (about 3x that of input with xz).
const PRECOMPRESS_LIMIT: usize = 256 << 20;

impl Drop for Creator<'_> {
    fn drop(&mut self) {
        // Its threads read the root: stop them before the root goes (one still finishing a
        // block then only sees its reads fail).
        drop(self.precompress.take());
        if self.s.nocleanup {
            self.work_owner.keep();
            eprintln!(
                "note: the work directory is kept in `{}`",
                self.work.display()
            );
        } else {
            let _ = crate::stale::remove_tree(&self.work);
        }
    }
}

impl<'a> Creator<'a> {
    /// A creator with a fresh work directory under `settings.tmpdir`.
    pub fn new(
        s: BuildSettings,
        runner: ScriptRunner,
        reporters: Reporters<'a>,
    ) -> Result<Self, BuildError> {
        std::fs::create_dir_all(&s.tmpdir).map_err(io("create", &s.tmpdir))?;
        let binfmt = crate::emulation::Binfmt::ensure(s.arch)
            .map_err(|e| BuildError::Emulation(s.arch.name.to_string(), e))?;
        // What killed builds left here goes first (an interrupted one cleans up itself).
        crate::stale::sweep(&s.tmpdir, WORK_PREFIX);
        let work_owner =
            crate::stale::create(&s.tmpdir, WORK_PREFIX).map_err(io("create in", &s.tmpdir))?;
        let work = work_owner.path.clone();
        let root = work.join("root");
        let iso = work.join("iso");
        let report = BuildReport {
            emulation: binfmt.as_ref().map(|g| g.how.clone()),
            ..BuildReport::default()
        };
        Ok(Creator {
            s,
            runner,
            reporters,
            work,
            work_owner,
            root,
            iso,
            done: Vec::new(),
            report,
            install_report: None,
            package_files: Vec::new(),
            precompress: None,
            _binfmt: binfmt,
        })
    }

    /// The root directory being built.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The work directory.
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    fn interrupted(&self) -> Result<(), BuildError> {
        if crate::cancel::interrupted() {
            return Err(BuildError::Interrupted);
        }
        Ok(())
    }

    fn timed<T>(
        &mut self,
        stage: Stage,
        f: impl FnOnce(&mut Self) -> Result<T, BuildError>,
    ) -> Result<T, BuildError> {
        if let Some(prev) = Stage::ALL
            .iter()
            .take_while(|s| **s != stage)
            .find(|s| !self.done.contains(s))
        {
            let _ = prev;
            return Err(BuildError::Order(stage.name()));
        }
        self.interrupted()?;
        (self.reporters.stage)(stage, false, 0.0);
        let t0 = Instant::now();
        let _span = tracing::info_span!("stage", name = stage.name()).entered();
        // Whatever failed while an interrupt was pending failed because of it.
        let r = f(self).map_err(|e| {
            if crate::cancel::interrupted() {
                tracing::debug!("stage {} stopped by an interrupt: {e}", stage.name());
                BuildError::Interrupted
            } else {
                e
            }
        });
        let dt = t0.elapsed();
        (self.reporters.stage)(stage, true, dt.as_secs_f64());
        self.report
            .stages
            .push((stage.name().to_string(), dt.as_secs_f64()));
        self.report.target_code_secs = self.runner.target_time().as_secs_f64();
        let v = r?;
        self.done.push(stage);
        Ok(v)
    }

    fn configure_options(&self) -> crate::configure::ConfigureOptions {
        crate::configure::ConfigureOptions {
            source_date_epoch: self.s.source_date_epoch,
            runner: Some(self.runner.clone()),
            live_root: Some(self.iso.clone()),
            tmp_dir: Some(self.work.clone()),
        }
    }

    /// A failing %pre/%post without --erroronfail is a warning, as in livecd-creator.
    fn note_scripts(&mut self, runs: &[crate::configure::scripts::ScriptRun]) {
        for r in runs.iter().filter(|r| r.status != 0) {
            self.report.warnings.push(format!(
                "%{} at {} failed with exit status {}",
                r.section.trim_start_matches('%'),
                r.origin,
                r.status
            ));
        }
    }

    /// Work directories and `%pre` (on the host, before anything).
    pub fn prepare(&mut self) -> Result<(), BuildError> {
        self.timed(Stage::Prepare, |c| {
            std::fs::create_dir_all(&c.iso).map_err(io("create", &c.iso))?;
            let runs = crate::configure::run_pre(&c.s.ks, &c.configure_options())?;
            c.note_scripts(&runs);
            Ok(())
        })
    }

    /// Resolve, download and install into the root.
    pub fn install(&mut self) -> Result<(), BuildError> {
        self.timed(Stage::Install, |c| {
            if let Some(reuse) = c.s.reuse.clone() {
                // The image is installed and configured already: its root is the build's.
                let (img, off, len) = match &reuse {
                    Reuse::FsImage(p) => (p.clone(), 0, 0),
                    Reuse::DiskImage(p) => {
                        let (o, l) = crate::media::disk::root_partition(p)?;
                        (p.clone(), o, l)
                    }
                };
                crate::media::disk::copy_out_image(&img, off, len, &c.root)?;
                return Ok(());
            }
            let r = crate::resolve::resolve(&c.s.ks, &c.s.resolve)?;
            c.report.warnings.extend(r.warnings.iter().cloned());
            let fetcher = crate::repo::Fetcher::new(None)?;
            let local = crate::repo::download(
                &r.plan,
                &c.s.resolve.cache,
                &fetcher,
                c.s.jobs,
                c.reporters.download,
            )?;
            // Signatures before any payload is used; the digests they verify (and those of
            // unchanged files an earlier build verified) are not computed again by the install.
            let records =
                std::sync::Arc::new(crate::repo::verified::Verified::load(&c.s.resolve.cache));
            crate::repo::gpg::check_packages(
                &c.s.gpg,
                &r.repos,
                &r.plan,
                &local,
                &fetcher,
                Some(records.as_ref()),
            )?;
            let paths: Vec<PathBuf> = local.iter().map(|l| l.path.clone()).collect();
            c.package_files = paths
                .iter()
                .cloned()
                .zip(r.plan.iter().map(|p| p.repo.clone()))
                .collect();
            let p = &c.s.ks.packages;
            let opts = InstallOptions {
                exclude_docs: p.exclude_docs,
                inst_langs: p.inst_langs.as_deref().map(|l| {
                    l.split(':')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                }),
                no_scripts: c.s.no_scripts,
                strict_scriptlets: false,
                dbpath: None,
                install_time: c.s.source_date_epoch.map(|e| e as u32),
                arch: c.s.arch.name.to_string(),
                no_digest: c.s.no_digest,
                digest_records: Some(records),
                relocations: Vec::new(),
            };
            c.start_precompress();
            let rep = transaction::install(&paths, &c.root, &opts, &c.runner, c.reporters.install)?;
            c.report.packages = rep.packages.clone();
            c.report.warnings.extend(rep.warnings.iter().cloned());
            c.install_report = Some(rep);
            Ok(())
        })
    }

    /// Start compressing the root's data blocks on idle cores while it is being built, when
    /// the build will write it as a squashfs with a slow codec (xz, gzip, high zstd levels).
    fn start_precompress(&mut self) {
        let sq = &self.s.squashfs;
        // KILN_PRECOMPRESS=0 turns it off (to measure what it saves).
        let off = std::env::var_os("KILN_PRECOMPRESS").is_some_and(|v| v == "0");
        if off || !self.writes_root_image() || self.s.ext4_in_squashfs || !sq.codec.is_slow() {
            return;
        }
        if let Err(e) = std::fs::create_dir_all(&self.root) {
            tracing::debug!("no precompression: {e}");
            return;
        }
        let threads = match sq.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let cache = std::sync::Arc::new(kiln_writers::squashfs::BlockCache::new(
            sq.codec.clone(),
            sq.block_size,
            PRECOMPRESS_LIMIT,
        ));
        match kiln_writers::squashfs::Precompressor::start(&self.root, cache.clone(), threads) {
            Ok(run) => self.precompress = Some(run),
            Err(e) => tracing::debug!("no precompression: {e}"),
        }
    }

    /// Stop the precompressor; its cache for the squashfs writer.
    fn finish_precompress(&mut self) -> Option<std::sync::Arc<kiln_writers::squashfs::BlockCache>> {
        let p = self.precompress.take()?;
        let cache = p.cache();
        let st = p.finish();
        tracing::info!(
            "compressed {} blocks ahead of the squashfs write on idle cores in {:.1} s{}",
            st.blocks,
            st.seconds,
            if st.full {
                " (its memory limit reached)"
            } else {
                ""
            }
        );
        Some(cache)
    }

    /// Whether the build writes the root as LiveOS/squashfs.img (the ISO and the outputs made
    /// from its parts).
    fn writes_root_image(&self) -> bool {
        let o = &self.s.outputs;
        o.iso || o.pxe_live || o.netroot || self.s.image_only || self.s.keep_image
    }

    /// The kickstart's configuration and `%post`.
    pub fn configure(&mut self) -> Result<(), BuildError> {
        self.timed(Stage::Configure, |c| {
            if c.s.reuse.is_some() {
                return Ok(());
            }
            let opts = c.configure_options();
            let rep = crate::configure::configure(&c.s.ks, &c.root, &opts)?;
            c.report.warnings.extend(
                rep.warnings
                    .iter()
                    .map(|w| format!("{} ({}): {}", w.command, w.origin, w.message)),
            );
            let runs = crate::configure::run_post(&c.s.ks, &c.root, &opts)?;
            c.note_scripts(&runs);
            Ok(())
        })
    }

    /// Boot assets into the ISO staging directory.
    pub fn finalize(&mut self) -> Result<(), BuildError> {
        self.timed(Stage::Finalize, |c| {
            let opts = crate::boot::BootOptions {
                arch: c.s.arch,
                label: c.s.label.clone(),
                title: c.s.title.clone(),
                kernel_args: c.s.kernel_args.clone(),
                syslinux: c.s.syslinux,
                templates: c.s.templates.clone(),
                timeout: c.s.timeout,
                squashfs_only: !c.s.ext4_in_squashfs,
                source_date_epoch: c.s.source_date_epoch,
            };
            let a = crate::boot::prepare(&c.root, &c.iso, &c.work, &opts, &c.runner)?;
            c.report.boot = Some(a);
            Ok(())
        })
    }

    /// The images, written into a staging directory in the result directory and renamed into
    /// place at the end; on failure or interrupt the staging directory is removed (kept with
    /// `nocleanup`).
    pub fn package(&mut self) -> Result<(), BuildError> {
        self.timed(Stage::Package, |c| {
            if c.s.source_date_epoch.is_some() {
                let dbpath = c
                    .install_report
                    .as_ref()
                    .map(|r| r.dbpath.clone())
                    .unwrap_or_else(|| crate::install::rpmdb::target_dbpath(&c.root));
                for what in crate::reproducible::reset_run_specific(&c.root, &dbpath) {
                    tracing::info!("reproducible build: {what}");
                }
            }
            let block_cache = c.finish_precompress();
            let staging = Staging::create(&c.s.resultdir, c.s.nocleanup)?;
            let boot = c.report.boot.clone().unwrap_or_default();
            let live = crate::media::live::LiveIso {
                root: c.root.clone(),
                iso_dir: c.iso.clone(),
                work: c.work.clone(),
                label: c.s.label.clone(),
                product: c.s.product.clone(),
                squashfs: crate::media::SquashfsOptions {
                    block_cache,
                    ..c.s.squashfs.clone()
                },
                ext4_in_squashfs: c.s.ext4_in_squashfs,
                rootfs_size_mb: c.s.rootfs_size_mb,
                source_date_epoch: c.s.source_date_epoch,
                image_only: c.s.image_only,
                keep_image: c.s.keep_image,
                write_iso: c.s.outputs.iso,
            };
            let mut made = Vec::new();
            if c.writes_root_image() {
                made = live.make(&boot, &staging.dir)?;
            }
            if !c.s.image_only {
                made.extend(c.more_outputs(&boot, &staging.dir)?);
            }
            // The kickstart as given, beside the media (Koji keeps it).
            let ks_name = format!("{}.ks", c.s.label);
            let _ = std::fs::write(staging.dir.join(&ks_name), c.s.ks.render());
            // The commit point: past it the results are renamed into place, not interrupted.
            c.interrupted()?;
            for a in made {
                let name = a.path.file_name().map(PathBuf::from).unwrap_or_default();
                let dst = c.s.resultdir.join(&name);
                std::fs::rename(&a.path, &dst).map_err(io("move the result to", &dst))?;
                c.report.artifacts.push(Artifact { path: dst, ..a });
            }
            let _ = std::fs::rename(staging.dir.join(&ks_name), c.s.resultdir.join(&ks_name));
            staging.finish();
            c.write_manifest(&ks_name)?;
            Ok(())
        })
    }

    /// `manifest.json`, `sbom.spdx.json` and the kickstart as given (`<label>-original.ks`)
    /// into the result directory, beside the flattened `ks_name`.
    fn write_manifest(&mut self, ks_name: &str) -> Result<(), BuildError> {
        use crate::manifest::{self, Manifest};
        let rd = &self.s.resultdir;
        let merr = |e: manifest::ManifestError| BuildError::Io {
            action: "write the manifest into",
            path: rd.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        };
        let original = format!("{}-original.ks", self.s.label);
        std::fs::copy(&self.s.ks_path, rd.join(&original))
            .map_err(io("copy the kickstart into", rd))?;
        let arch = self.s.arch.name;
        let images = self
            .report
            .artifacts
            .iter()
            .map(|a| manifest::image_files(&a.path, arch, &a.kind))
            .collect::<Result<Vec<_>, _>>()
            .map_err(merr)?
            .into_iter()
            .flatten()
            .collect();
        let mut rpmlist = {
            use rayon::prelude::*;
            self.package_files
                .par_iter()
                .map(|(p, repo)| manifest::rpm_entry(p, repo))
                .collect::<Result<Vec<_>, _>>()
                .map_err(merr)?
        };
        rpmlist.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
        let m = Manifest {
            format: "kiln-manifest".into(),
            version: 1,
            kiln_version: env!("CARGO_PKG_VERSION").into(),
            arch: arch.to_string(),
            label: self.s.label.clone(),
            source_date_epoch: self.s.source_date_epoch,
            images,
            rpmlist,
            kickstart: original,
            kickstart_flattened: ks_name.to_string(),
            sbom: manifest::SBOM.into(),
            log: manifest::LOG.into(),
        };
        let created = self.s.source_date_epoch.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
        let sbom = manifest::spdx(&m, created);
        for (name, text) in [
            (
                manifest::MANIFEST,
                serde_json::to_string_pretty(&m).unwrap_or_default(),
            ),
            (
                manifest::SBOM,
                serde_json::to_string_pretty(&sbom).unwrap_or_default(),
            ),
        ] {
            let p = rd.join(name);
            std::fs::write(&p, text + "\n").map_err(io("write", &p))?;
        }
        Ok(())
    }

    /// The outputs besides the ISO, into `staging`.
    fn more_outputs(
        &self,
        boot: &crate::boot::BootAssets,
        staging: &Path,
    ) -> Result<Vec<Artifact>, BuildError> {
        use crate::media::{disk, netboot};
        let o = &self.s.outputs;
        let label = &self.s.label;
        let mut made = Vec::new();
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let parts = netboot::LiveParts {
            label: label.clone(),
            vmlinuz: self.iso.join(crate::boot::layout::VMLINUZ),
            initrd: self.iso.join(crate::boot::layout::INITRD),
            squashfs: self.iso.join(crate::boot::layout::SQUASHFS),
            extra_args: self.s.kernel_args.clone(),
            root: Some(self.root.clone()),
        };
        if o.pxe_live {
            let name = format!("{label}-pxe");
            let dir = staging.join(&name);
            netboot::make_pxe_live(&parts, &dir)?;
            made.push(Artifact {
                size: dir_size(&dir),
                path: dir,
                kind: "pxe-live".into(),
            });
        }
        if o.netroot {
            let name = format!("{label}-netroot");
            let dir = staging.join(&name);
            // nbd.conf names the image where it will be once renamed into place.
            let fin = std::fs::canonicalize(&self.s.resultdir)
                .map_err(io("resolve", &self.s.resultdir))?
                .join(&name);
            netboot::make_netroot(&parts, &dir, netboot::QEMU_HOST, Some(&fin))?;
            made.push(Artifact {
                size: dir_size(&dir),
                path: dir,
                kind: "netroot".into(),
            });
        }
        if o.disk {
            let esp_src = boot.efi_dir.clone().ok_or_else(|| {
                BuildError::Media(crate::media::MediaError::NotLive(format!(
                    "--make-disk boots with UEFI, and {} has no EFI boot loader here",
                    self.s.arch.name
                )))
            })?;
            let esp = self.work.join("disk-esp");
            let _ = std::fs::remove_dir_all(&esp);
            copy_tree(&esp_src, &esp)?;
            let efi_boot = esp.join(crate::boot::layout::EFI_DIR);
            for (src, name) in [(&parts.vmlinuz, "vmlinuz"), (&parts.initrd, "initrd.img")] {
                std::fs::copy(src, esp.join(name)).map_err(io("copy", src))?;
            }
            let uuid = disk::uuid_from(&format!(
                "{label} {}",
                self.s
                    .source_date_epoch
                    .unwrap_or_else(|| std::process::id() as i64)
            ));
            let mut args = format!("root=UUID={uuid} rw");
            if !self.s.kernel_args.trim().is_empty() {
                args.push(' ');
                args.push_str(self.s.kernel_args.trim());
            }
            let serial = self
                .s
                .arch
                .grub_serial_for
                .is_some_and(|dev| self.s.kernel_args.contains(&format!("console={dev}")));
            let cfg = efi_boot.join("grub.cfg");
            std::fs::write(&cfg, disk::disk_grub_cfg(&self.s.title, &args, serial))
                .map_err(io("write", &cfg))?;
            let spec = disk::DiskSpec {
                root: self.root.clone(),
                esp,
                root_size: self.s.rootfs_size_mb.max(64) * 1024 * 1024,
                label: label.clone(),
                root_uuid: uuid,
                x86_64: self.s.arch.name == "x86_64",
                epoch: self.s.source_date_epoch,
            };
            let raw = staging.join(format!("{label}-disk.raw"));
            disk::make_disk(&spec, &raw)?;
            let out = if o.qcow2 {
                let q = staging.join(format!("{label}-disk.qcow2"));
                let r = disk::to_qcow2(&raw, &q);
                let _ = std::fs::remove_file(&raw);
                r?;
                q
            } else {
                raw
            };
            made.push(Artifact {
                size: size(&out),
                path: out,
                kind: if o.qcow2 { "disk-qcow2" } else { "disk-raw" }.into(),
            });
        }
        if o.fsimage {
            let out = staging.join(format!("{label}-rootfs.img"));
            disk::mkfs_ext4(
                &self.root,
                &out,
                0,
                self.s.rootfs_size_mb.max(64) * 1024 * 1024,
                label,
                None,
                self.s.source_date_epoch,
            )?;
            made.push(Artifact {
                size: size(&out),
                path: out,
                kind: "fsimage".into(),
            });
        }
        if o.tar {
            let (prog, suffix) = &o.tar_compressor;
            let out = staging.join(format!("{label}-root.{suffix}"));
            disk::make_tar(&self.root, &out, prog)?;
            made.push(Artifact {
                size: size(&out),
                path: out,
                kind: "tar".into(),
            });
        }
        Ok(made)
    }

    /// All stages, optionally dropping into a shell before `shell_before`.
    pub fn create(&mut self, shell_before: Option<Stage>) -> Result<BuildReport, BuildError> {
        for st in Stage::ALL {
            if shell_before == Some(st) {
                self.shell()?;
            }
            match st {
                Stage::Prepare => self.prepare()?,
                Stage::Install => self.install()?,
                Stage::Configure => self.configure()?,
                Stage::Finalize => self.finalize()?,
                Stage::Package => self.package()?,
            }
        }
        Ok(self.report.clone())
    }

    /// An interactive shell in the root (chroot, private namespace), as livecd-creator's
    /// `--shell`; returns when the shell exits.
    pub fn shell(&self) -> Result<(), BuildError> {
        eprintln!(
            "kiln: shell in the root `{}`; exit to continue the build",
            self.root.display()
        );
        let status = std::process::Command::new(self.runner.exe())
            .arg(crate::install::scriptlet::SHELL_ARG)
            .arg(&self.root)
            .status()
            .map_err(io("start a shell in", &self.root))?;
        tracing::debug!("shell exited: {status}");
        Ok(())
    }

    /// The report so far.
    pub fn report(&self) -> &BuildReport {
        &self.report
    }

    /// Stage timings as a table.
    pub fn timings(&self) -> Vec<(String, Duration)> {
        self.report
            .stages
            .iter()
            .map(|(n, s)| (n.clone(), Duration::from_secs_f64(*s)))
            .collect()
    }
}

/// The results being written: `RESULTDIR/.kiln-partial-<pid>-<n>/`, removed when dropped
/// unless [`Staging::finish`]ed (or kept for `nocleanup`), together with the result directory
/// itself when the build made it and it is still empty.
struct Staging {
    dir: PathBuf,
    owner: crate::stale::OwnedDir,
    made_resultdir: Option<PathBuf>,
    keep: bool,
    done: bool,
}

impl Staging {
    fn create(resultdir: &Path, keep: bool) -> Result<Staging, BuildError> {
        let made_resultdir = (!resultdir.exists()).then(|| resultdir.to_path_buf());
        std::fs::create_dir_all(resultdir).map_err(io("create", resultdir))?;
        crate::stale::sweep(resultdir, STAGING_PREFIX);
        let owner =
            crate::stale::create(resultdir, STAGING_PREFIX).map_err(io("create in", resultdir))?;
        Ok(Staging {
            dir: owner.path.clone(),
            owner,
            made_resultdir,
            keep,
            done: false,
        })
    }

    /// Success: everything was moved out; remove the (empty) staging directory.
    fn finish(mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        self.done = true;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.keep {
            self.owner.keep();
            eprintln!(
                "note: the partial results are kept in `{}`",
                self.dir.display()
            );
            return;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(d) = &self.made_resultdir {
            // Only when empty: anything else there is not ours.
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Bytes of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flat_map(|rd| rd.flatten())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// Copy the regular files and directories of `src` into `dst`.
fn copy_tree(src: &Path, dst: &Path) -> Result<(), BuildError> {
    std::fs::create_dir_all(dst).map_err(io("create", dst))?;
    for e in std::fs::read_dir(src).map_err(io("read", src))?.flatten() {
        let (s, d) = (e.path(), dst.join(e.file_name()));
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            copy_tree(&s, &d)?;
        } else {
            std::fs::copy(&s, &d).map_err(io("copy to", &d))?;
        }
    }
    Ok(())
}

/// The work directories in `--tmpdir`.
const WORK_PREFIX: &str = "kiln-build";

/// The staging directories in the result directory.
const STAGING_PREFIX: &str = ".kiln-partial";
