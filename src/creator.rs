//! The build, as the steps it runs. [`Creator::create`] runs them in order, each taking the
//! previous one's plain output and returning its own:
//!
//! | stage       | step               | takes                        | returns                     |
//! |-------------|--------------------|------------------------------|-----------------------------|
//! | `prepare`   | `prepare`          | the settings                 | warnings of `%pre`          |
//! | `install`   | `resolve`          | the kickstart                | `Resolution`                |
//! |             | `fetch_packages`   | `Resolution`                 | `VerifiedPackages`          |
//! |             | `install_root`     | `VerifiedPackages`           | `InstalledRoot`             |
//! |             | or `reuse_root`    | an image (`--fs-image`, ...) | `InstalledRoot`             |
//! |             | (EROFS root image) | the root's kernel config     | the algorithm it reads      |
//! | `configure` | `configure_root`   | `InstalledRoot`              | `ConfiguredRoot`            |
//! | `finalize`  | `boot_assets`      | the configured root          | `BootAssets`                |
//! | `package`   | `finish_root`      | `InstalledRoot`              | run-specific files reset    |
//! |             | `label_root`       | the finished root            | SELinux labels (xattrs)     |
//! |             | `write_root_image` | `BootAssets`                 | `Built` (+ root image)      |
//! |             | `make_outputs`     | `Built`, the outputs         | artifacts in `Staging`      |
//! |             | `commit_results`   | `Staging`, artifacts         | `Artifact`s in the result dir |
//! |             | `write_manifest`   | artifacts, package files     | manifest.json, SBOM         |
//!
//! The outputs (ISO, PXE, netroot, disk, fsimage, tar) are `Output`s from `media/`, chosen once
//! from the settings (`creator/settings.rs`, with the stages and the report). Around the steps
//! the creator keeps what outlives one: stage timings and the [`BuildReport`], a shell into the
//! root before a stage (`--shell-before`), and the precompressor that compresses the root's
//! blocks on idle cores from the install until the root image is written.
//!
//! Everything lives in a work directory removed when the creator is dropped (unless
//! `nocleanup`); results are written to a staging directory inside the result directory
//! (`.kiln-partial-<pid>-<n>`, `creator/staging.rs`, so the final rename stays on one
//! filesystem) and renamed into
//! place only when the whole build succeeded. An interrupt ([`crate::cancel`]) stops the running
//! stage at its next check, ends its child processes and fails the build with
//! [`BuildError::Interrupted`]; the same cleanup as for any failure follows. Chroot mounts live
//! in the scriptlet helper's private mount namespace and vanish with it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod settings;
mod staging;

use settings::selected_outputs;
pub use settings::{BuildReport, BuildSettings, Outputs, Reuse, Stage};
use staging::Staging;

use crate::boot::BootAssets;
use crate::error::IoError;
use crate::install::scriptlet::ScriptRunner;
use crate::install::transaction::{self, InstallOptions};
use crate::media::block_store::{self, CacheUse};
use crate::media::{disk, live, BlockCache, Built, Output, Precompressor};
use crate::progress::{DownloadReporter, InstallReporter};
use crate::repo::VerifiedPackages;
use crate::resolve::Resolution;

pub use crate::media::Artifact;

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
    /// Ctrl-C.
    #[error("interrupted")]
    Interrupted,
    /// A file-system call on the work or result directory failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The rootless root's sidecar could not be written.
    #[error(transparent)]
    Attrs(#[from] crate::attrs::AttrsError),
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
            BuildError::Media(crate::media::MediaError::ErofsKernel(_)) => 1,
            BuildError::Configure(crate::configure::ConfigureError::Label(
                crate::configure::selinux_label::LabelError::Io(_)
                | crate::configure::selinux_label::LabelError::Attrs(_),
            )) => 2,
            BuildError::Configure(_) => 1,
            _ => 2,
        }
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

/// The build: its steps, run by [`Creator::create`], and what lives across them.
pub struct Creator<'a> {
    build: Build<'a>,
    /// What the build makes, chosen once from the settings.
    outputs: Vec<Box<dyn Output>>,
    report: BuildReport,
    /// Holds the work directory's lock: a later build knows it is in use.
    work_owner: crate::stale::OwnedDir,
    /// Compresses the root's blocks on idle cores from install until the root image is written.
    precompress: Option<Precompressor>,
    /// An EROFS root image's compression, settled against the target's kernel after install.
    erofs_compression: Option<crate::media::ErofsCompression>,
    /// Keeps binfmt set up for a foreign arch; dropped (undone) with the creator.
    _binfmt: Option<crate::emulation::BinfmtGuard>,
}

/// What every step reads: the settings, where things are, how target code runs and who hears
/// of the progress.
struct Build<'a> {
    settings: BuildSettings,
    runner: ScriptRunner,
    reporters: Reporters<'a>,
    /// The work directory.
    work: PathBuf,
    /// The root being built (`<work>/root`).
    root: PathBuf,
    /// The live media tree (`<work>/iso`): boot files, then the root image.
    media_dir: PathBuf,
}

/// The root with its packages installed (or copied out of a reused image).
#[derive(Debug, Default)]
pub struct InstalledRoot {
    /// The packages installed (NEVRA), in install order.
    pub packages: Vec<String>,
    /// The rpmdb's path in the root, as the install wrote it.
    pub dbpath: Option<String>,
    /// The package files installed, with the repository each came from (for the manifest).
    pub package_files: Vec<(PathBuf, String)>,
    /// Warnings of the install.
    pub warnings: Vec<String>,
}

/// The root configured by the kickstart and its `%post` scripts: ready to boot.
#[derive(Debug, Default)]
pub struct ConfiguredRoot {
    /// What the install left.
    pub installed: InstalledRoot,
    /// Warnings of the configuration and failing `%post` scripts.
    pub warnings: Vec<String>,
}

impl Drop for Creator<'_> {
    fn drop(&mut self) {
        // Its threads read the root: stop them before the root goes (one still finishing a
        // block then only sees its reads fail).
        drop(self.precompress.take());
        if self.build.settings.nocleanup {
            self.work_owner.keep();
            eprintln!(
                "note: the work directory is kept in `{}`",
                self.build.work.display()
            );
        } else {
            let _ = crate::stale::remove_tree(&self.build.work);
        }
    }
}

impl<'a> Creator<'a> {
    /// A creator with a fresh work directory under `settings.tmpdir`.
    pub fn new(
        settings: BuildSettings,
        runner: ScriptRunner,
        reporters: Reporters<'a>,
    ) -> Result<Self, BuildError> {
        let tmpdir = &settings.tmpdir;
        std::fs::create_dir_all(tmpdir).map_err(IoError::at("create", tmpdir))?;
        let binfmt = crate::emulation::Binfmt::ensure(settings.arch)
            .map_err(|e| BuildError::Emulation(settings.arch.name.to_string(), e))?;
        // What killed builds left here goes first (an interrupted one cleans up itself).
        crate::stale::sweep(tmpdir, WORK_PREFIX);
        let work_owner =
            crate::stale::create(tmpdir, WORK_PREFIX).map_err(IoError::at("create in", tmpdir))?;
        let work = work_owner.path.clone();
        let report = BuildReport {
            emulation: binfmt.as_ref().map(|g| g.how.clone()),
            ..BuildReport::default()
        };
        Ok(Creator {
            outputs: selected_outputs(&settings),
            build: Build {
                settings,
                runner,
                reporters,
                root: work.join("root"),
                media_dir: work.join("iso"),
                work,
            },
            report,
            work_owner,
            precompress: None,
            erofs_compression: None,
            _binfmt: binfmt,
        })
    }

    /// The root directory being built.
    pub fn root(&self) -> &Path {
        &self.build.root
    }

    /// The work directory.
    pub fn work_dir(&self) -> &Path {
        &self.build.work
    }

    /// All stages, optionally dropping into a shell before `shell_before`.
    pub fn create(&mut self, shell_before: Option<Stage>) -> Result<BuildReport, BuildError> {
        self.stage(Stage::Prepare, shell_before, Self::prepare)?;
        let installed = self.stage(Stage::Install, shell_before, Self::install)?;
        let configured = self.stage(Stage::Configure, shell_before, |c| c.configure(installed))?;
        let boot = self.stage(Stage::Finalize, shell_before, |c| c.finalize(&configured))?;
        self.stage(Stage::Package, shell_before, |c| {
            c.package(&configured, &boot)
        })?;
        Ok(self.report.clone())
    }

    /// Work directories and `%pre`.
    fn prepare(&mut self) -> Result<(), BuildError> {
        let warnings = prepare(&self.build)?;
        self.report.warnings.extend(warnings);
        Ok(())
    }

    /// Resolve, fetch and verify, install; or copy the reused image's root out. Then an EROFS
    /// root image's compression is settled against the root's kernel, so that one it cannot
    /// read fails the build now rather than at boot.
    fn install(&mut self) -> Result<InstalledRoot, BuildError> {
        let installed = match &self.build.settings.reuse {
            Some(image) => reuse_root(&self.build, image)?,
            None => {
                let resolution = resolve(&self.build)?;
                self.report.warnings.extend(resolution.warnings.clone());
                let packages = fetch_packages(&self.build, &resolution)?;
                if self.writes_root_image()
                    && self.build.settings.rootfs_type == crate::media::RootfsType::Squashfs
                {
                    let squashfs = &self.build.settings.squashfs;
                    self.precompress = live::start_precompress(&self.build.root, squashfs);
                }
                let installed = install_root(&self.build, &resolution, packages)?;
                self.report.packages = installed.packages.clone();
                self.report
                    .warnings
                    .extend(installed.warnings.iter().cloned());
                installed
            }
        };
        let settings = &self.build.settings;
        if self.writes_root_image() && settings.rootfs_type.is_erofs() {
            self.erofs_compression =
                live::erofs_compression_for(&self.build.root, settings.erofs.compression)?;
        }
        Ok(installed)
    }

    /// The kickstart's configuration and `%post` (nothing for a reused image).
    fn configure(&mut self, installed: InstalledRoot) -> Result<ConfiguredRoot, BuildError> {
        let configured = configure_root(&self.build, installed)?;
        self.report
            .warnings
            .extend(configured.warnings.iter().cloned());
        Ok(configured)
    }

    /// Boot assets into the media tree. They are made from the configured root (`build.root`),
    /// which the argument stands for: finalize runs only after configure.
    fn finalize(&mut self, _configured: &ConfiguredRoot) -> Result<BootAssets, BuildError> {
        let boot = boot_assets(&self.build)?;
        self.report.boot = Some(boot.clone());
        Ok(boot)
    }

    /// The outputs, written into a staging directory in the result directory and renamed into
    /// place at the end; on failure or interrupt the staging directory is removed (kept with
    /// `nocleanup`); then the manifest.
    fn package(&mut self, root: &ConfiguredRoot, boot: &BootAssets) -> Result<(), BuildError> {
        finish_root(&self.build, &root.installed);
        let warnings = label_root(&self.build)?;
        self.report.warnings.extend(warnings);
        let block_cache = self.precompress.take().map(live::finish_precompress);
        let staging = Staging::create(
            &self.build.settings.resultdir,
            self.build.settings.nocleanup,
        )?;
        let erofs = live::ErofsRoot {
            compression: self.erofs_compression,
            ..self.build.settings.erofs
        };
        let (built, cache_use) = write_root_image(
            &self.build,
            boot,
            self.writes_root_image(),
            block_cache,
            erofs,
        )?;
        self.report.block_cache = cache_use;
        let made = make_outputs(&built, &self.outputs, &staging)?;
        let ks_name = stage_kickstart(&self.build.settings, &staging);
        // The commit point: past it the results are renamed into place, not interrupted.
        interrupted()?;
        commit_results(
            &self.build.settings,
            made,
            &ks_name,
            staging,
            &mut self.report.artifacts,
        )?;
        write_manifest(
            &self.build.settings,
            &self.report.artifacts,
            &root.installed.package_files,
            &ks_name,
        )
    }

    /// Whether an output is made from the root image (LiveOS/squashfs.img).
    fn writes_root_image(&self) -> bool {
        self.outputs.iter().any(|o| o.needs_root_image())
    }

    /// Run `step` as `stage`, after a shell into the root when it is `shell_before`: timed,
    /// reported, and failed as [`BuildError::Interrupted`] when an interrupt is pending.
    fn stage<T>(
        &mut self,
        stage: Stage,
        shell_before: Option<Stage>,
        step: impl FnOnce(&mut Self) -> Result<T, BuildError>,
    ) -> Result<T, BuildError> {
        if shell_before == Some(stage) {
            self.shell()?;
        }
        interrupted()?;
        (self.build.reporters.stage)(stage, false, 0.0);
        let started = Instant::now();
        let _span = tracing::info_span!("stage", name = stage.name()).entered();
        // Whatever failed while an interrupt was pending failed because of it.
        let result = step(self).map_err(|e| {
            if crate::cancel::interrupted() {
                tracing::debug!("stage {} stopped by an interrupt: {e}", stage.name());
                BuildError::Interrupted
            } else {
                e
            }
        });
        let secs = started.elapsed().as_secs_f64();
        (self.build.reporters.stage)(stage, true, secs);
        self.report.stages.push((stage.name().to_string(), secs));
        self.report.target_code_secs = self.build.runner.target_time().as_secs_f64();
        result
    }

    /// An interactive shell in the root (chroot, private namespace), as livecd-creator's
    /// `--shell`; returns when the shell exits.
    pub fn shell(&self) -> Result<(), BuildError> {
        let root = &self.build.root;
        eprintln!(
            "kiln: shell in the root `{}`; exit to continue the build",
            root.display()
        );
        let status = std::process::Command::new(self.build.runner.exe())
            .arg(crate::install::scriptlet::SHELL_ARG)
            .arg(root)
            .status()
            .map_err(IoError::at("start a shell in", root))?;
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

fn interrupted() -> Result<(), BuildError> {
    if crate::cancel::interrupted() {
        return Err(BuildError::Interrupted);
    }
    Ok(())
}

fn configure_options(build: &Build<'_>) -> crate::configure::ConfigureOptions {
    crate::configure::ConfigureOptions {
        source_date_epoch: build.settings.source_date_epoch,
        runner: Some(build.runner.clone()),
        live_root: Some(build.media_dir.clone()),
        tmp_dir: Some(build.work.clone()),
        post_network: build.settings.post_network,
    }
}

/// A failing %pre/%post without --erroronfail is a warning, as in livecd-creator.
fn script_warnings(runs: &[crate::configure::scripts::ScriptRun]) -> Vec<String> {
    runs.iter()
        .filter(|r| r.status != 0)
        .map(|r| {
            format!(
                "%{} at {} failed with exit status {}",
                r.section.trim_start_matches('%'),
                r.origin,
                r.status
            )
        })
        .collect()
}

/// Step: the media tree and `%pre` (on the host, before anything); returns the warnings of
/// failing `%pre` scripts.
fn prepare(build: &Build<'_>) -> Result<Vec<String>, BuildError> {
    let media_dir = &build.media_dir;
    std::fs::create_dir_all(media_dir).map_err(IoError::at("create", media_dir))?;
    let runs = crate::configure::run_pre(&build.settings.ks, &configure_options(build))?;
    Ok(script_warnings(&runs))
}

/// Step: the kickstart's packages resolved against its repositories.
fn resolve(build: &Build<'_>) -> Result<Resolution, BuildError> {
    Ok(crate::resolve::resolve(
        &build.settings.ks,
        &build.settings.resolve,
    )?)
}

/// Step: the resolved packages downloaded, their checksums and signatures verified.
fn fetch_packages(
    build: &Build<'_>,
    resolution: &Resolution,
) -> Result<VerifiedPackages, BuildError> {
    let settings = &build.settings;
    Ok(crate::repo::fetch_verified(
        &resolution.plan,
        &resolution.repos,
        &settings.resolve.cache,
        &settings.gpg,
        settings.jobs,
        build.reporters.download,
    )?)
}

/// Step: the verified packages installed into the root (rpmdb, scriptlets).
fn install_root(
    build: &Build<'_>,
    resolution: &Resolution,
    packages: VerifiedPackages,
) -> Result<InstalledRoot, BuildError> {
    let settings = &build.settings;
    let paths: Vec<PathBuf> = packages.local.iter().map(|l| l.path.clone()).collect();
    let kickstart_packages = &settings.ks.packages;
    let opts = InstallOptions {
        exclude_docs: kickstart_packages.exclude_docs,
        inst_langs: kickstart_packages
            .inst_langs
            .as_deref()
            .map(transaction::split_inst_langs),
        no_scripts: settings.no_scripts,
        strict_scriptlets: false,
        dbpath: None,
        install_time: settings.source_date_epoch.map(|e| e as u32),
        arch: settings.arch.name.to_string(),
        no_digest: settings.no_digest,
        digest_records: Some(packages.records),
        relocations: Vec::new(),
    };
    let report = transaction::install(
        &paths,
        &build.root,
        &opts,
        &build.runner,
        build.reporters.install,
    )?;
    let package_files = paths
        .into_iter()
        .zip(resolution.plan.iter().map(|p| p.repo.clone()))
        .collect();
    Ok(InstalledRoot {
        packages: report.packages,
        dbpath: Some(report.dbpath),
        package_files,
        warnings: report.warnings,
    })
}

/// Step (instead of resolving and installing): the root of an existing image, installed and
/// configured already (livemedia-creator's `--fs-image`, `--disk-image`).
fn reuse_root(build: &Build<'_>, image: &Reuse) -> Result<InstalledRoot, BuildError> {
    let (path, offset, len) = match image {
        Reuse::FsImage(path) => (path, 0, 0),
        Reuse::DiskImage(path) => {
            let (offset, len) = disk::root_partition(path)?;
            (path, offset, len)
        }
    };
    disk::copy_out_image(path, offset, len, &build.root)?;
    Ok(InstalledRoot::default())
}

/// Step: the kickstart's configuration and `%post` applied to the installed root (a reused
/// image's root is taken as configured).
fn configure_root(
    build: &Build<'_>,
    installed: InstalledRoot,
) -> Result<ConfiguredRoot, BuildError> {
    if build.settings.reuse.is_some() {
        return Ok(ConfiguredRoot {
            installed,
            warnings: Vec::new(),
        });
    }
    let (ks, root) = (&build.settings.ks, &build.root);
    let opts = configure_options(build);
    let report = crate::configure::configure(ks, root, &opts)?;
    let mut warnings: Vec<String> = report
        .warnings
        .iter()
        .map(|w| format!("{} ({}): {}", w.command, w.origin, w.message))
        .collect();
    let runs = crate::configure::run_post(ks, root, &opts)?;
    warnings.extend(script_warnings(&runs));
    // Owners a single-id user namespace refused the configure step (home directories).
    crate::attrs::flush_refused(root)?;
    Ok(ConfiguredRoot {
        installed,
        warnings,
    })
}

/// Step: the boot files (kernel, live initramfs, boot loaders, menus) of the configured root,
/// laid out in the media tree.
fn boot_assets(build: &Build<'_>) -> Result<BootAssets, BuildError> {
    let settings = &build.settings;
    let opts = crate::boot::BootOptions {
        arch: settings.arch,
        label: settings.label.clone(),
        title: settings.title.clone(),
        kernel_args: settings.kernel_args.clone(),
        syslinux: settings.syslinux,
        templates: settings.templates.clone(),
        timeout: settings.timeout,
        rootfs_type: settings.rootfs_type,
        source_date_epoch: settings.source_date_epoch,
        dracut: settings.dracut.clone(),
    };
    Ok(crate::boot::prepare(
        &build.root,
        &build.media_dir,
        &build.work,
        &opts,
        &build.runner,
    )?)
}

/// Step: for a reproducible build, the run-specific files of the root (rpmdb timestamps,
/// machine-id, caches) reset before it is written.
fn finish_root(build: &Build<'_>, installed: &InstalledRoot) {
    if build.settings.source_date_epoch.is_none() {
        return;
    }
    let dbpath = installed
        .dbpath
        .clone()
        .unwrap_or_else(|| crate::install::rpmdb::target_dbpath(&build.root));
    for what in crate::reproducible::reset_run_specific(&build.root, &dbpath) {
        tracing::info!("reproducible build: {what}");
    }
}

/// Step: every path of the root labelled for SELinux (`security.selinux` xattrs, which the
/// image writers carry), when the root has a policy and the kickstart does not say
/// `selinux --disabled`; last, so that nothing written into the root goes unlabelled (a
/// reused image's root too: finalize's dracut writes into it). Returns the warnings.
fn label_root(build: &Build<'_>) -> Result<Vec<String>, BuildError> {
    use crate::configure::RootLabels;
    use crate::kickstart::commands::selinux::{Selinux, SelinuxMode};
    let ks = &build.settings.ks;
    let started = Instant::now();
    match crate::configure::label_root(ks, &build.root)? {
        RootLabels::Labelled { policy_type, stats } => {
            tracing::info!(
                "SELinux labels ({policy_type}): {} of {} paths labelled, {} left unlabelled \
                 (<<none>> or no spec), {} hard links with conflicting specs, in {:.2} s",
                stats.labelled,
                stats.paths,
                stats.unlabelled,
                stats.link_conflicts,
                started.elapsed().as_secs_f64()
            );
            Ok(Vec::new())
        }
        RootLabels::Disabled => Ok(Vec::new()),
        RootLabels::NoPolicy => {
            let asked = ks.command::<Selinux>().and_then(|s| s.mode);
            Ok(match asked {
                Some(SelinuxMode::Enforcing | SelinuxMode::Permissive) => vec![
                    "selinux: the root has no SELinux policy (no SELINUXTYPE in /etc/selinux/config \
                     or no contexts/files/file_contexts for it): files are not labelled"
                        .to_string(),
                ],
                _ => Vec::new(),
            })
        }
    }
}

/// Step: the root image `LiveOS/squashfs.img` in the media tree, when an output is made from it
/// (`needed`), with the precompressor's blocks (squashfs) or the settled `erofs` settings, and
/// the persistent block store (`settings.squashfs.block_store`, both writers), which then
/// records the build and is pruned to its limit; returns what the outputs are made from and
/// how the caches served the image.
fn write_root_image<'b>(
    build: &'b Build<'_>,
    boot: &'b BootAssets,
    needed: bool,
    block_cache: Option<Arc<BlockCache>>,
    erofs: live::ErofsRoot,
) -> Result<(Built<'b>, Option<CacheUse>), BuildError> {
    let settings = &build.settings;
    let mut cache_use = None;
    if needed {
        let image = live::RootImage {
            squashfs: crate::media::SquashfsOptions {
                block_cache,
                ..settings.squashfs.clone()
            },
            rootfs_type: settings.rootfs_type,
            erofs,
            rootfs_size_mb: settings.rootfs_size_mb,
            label: settings.label.clone(),
            source_date_epoch: settings.source_date_epoch,
        };
        let written = image.write(&build.root, &build.media_dir, &build.work)?;
        if let Some(store) = &settings.squashfs.block_store {
            let name = format!("{} {}", settings.label, crate::boot::layout::SQUASHFS);
            block_store::finish_write(
                store,
                settings.block_store_limit,
                &name,
                written.bytes,
                &written.cache,
            );
        }
        // Without a store the figures are the precompressor's alone; worth a line only when
        // it served something.
        if settings.squashfs.block_store.is_some() || written.cache.blocks_from_cache > 0 {
            cache_use = Some(written.cache);
        }
    }
    let built = Built {
        root: &build.root,
        media_dir: &build.media_dir,
        boot,
        work: &build.work,
    };
    Ok((built, cache_use))
}

/// Step: every selected output made into the staging directory.
fn make_outputs(
    built: &Built<'_>,
    outputs: &[Box<dyn Output>],
    staging: &Staging,
) -> Result<Vec<Artifact>, BuildError> {
    let mut made = Vec::new();
    for output in outputs {
        made.extend(output.make(built, &staging.dir)?);
    }
    Ok(made)
}

/// The kickstart as given, beside the media (Koji keeps it); returns its file name.
fn stage_kickstart(settings: &BuildSettings, staging: &Staging) -> String {
    let ks_name = format!("{}.ks", settings.label);
    let _ = std::fs::write(staging.dir.join(&ks_name), settings.ks.render());
    ks_name
}

/// Step: the staged results renamed into the result directory, each pushed to `artifacts` as
/// it lands there.
fn commit_results(
    settings: &BuildSettings,
    made: Vec<Artifact>,
    ks_name: &str,
    staging: Staging,
    artifacts: &mut Vec<Artifact>,
) -> Result<(), BuildError> {
    let resultdir = &settings.resultdir;
    for artifact in made {
        let name = artifact
            .path
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        let dst = resultdir.join(&name);
        std::fs::rename(&artifact.path, &dst).map_err(IoError::at("move the result to", &dst))?;
        artifacts.push(Artifact {
            path: dst,
            ..artifact
        });
    }
    let _ = std::fs::rename(staging.dir.join(ks_name), resultdir.join(ks_name));
    staging.finish();
    Ok(())
}

/// Step: `manifest.json`, `sbom.spdx.json` and the kickstart as given
/// (`<label>-original.ks`) into the result directory, beside the flattened `ks_name`.
fn write_manifest(
    settings: &BuildSettings,
    artifacts: &[Artifact],
    package_files: &[(PathBuf, String)],
    ks_name: &str,
) -> Result<(), BuildError> {
    use crate::manifest::{self, Manifest};
    let resultdir = &settings.resultdir;
    let manifest_error = |e: manifest::ManifestError| {
        IoError::new(
            "write the manifest into",
            resultdir,
            std::io::Error::other(e.to_string()),
        )
    };
    let original = format!("{}-original.ks", settings.label);
    std::fs::copy(&settings.ks_path, resultdir.join(&original))
        .map_err(IoError::at("copy the kickstart into", resultdir))?;
    let arch = settings.arch.name;
    let images = artifacts
        .iter()
        .map(|a| manifest::image_files(&a.path, arch, &a.kind))
        .collect::<Result<Vec<_>, _>>()
        .map_err(manifest_error)?
        .into_iter()
        .flatten()
        .collect();
    let mut rpmlist = {
        use rayon::prelude::*;
        package_files
            .par_iter()
            .map(|(path, repo)| manifest::rpm_entry(path, repo))
            .collect::<Result<Vec<_>, _>>()
            .map_err(manifest_error)?
    };
    rpmlist.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    let manifest = Manifest {
        format: "kiln-manifest".into(),
        version: 2,
        kiln_version: env!("CARGO_PKG_VERSION").into(),
        arch: arch.to_string(),
        label: settings.label.clone(),
        source_date_epoch: settings.source_date_epoch,
        images,
        rpmlist,
        kickstart: original,
        kickstart_flattened: ks_name.to_string(),
        sbom: manifest::SBOM.into(),
        log: manifest::LOG.into(),
    };
    let created = settings.source_date_epoch.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    });
    let sbom = manifest::spdx(&manifest, created);
    for (name, text) in [
        (
            manifest::MANIFEST,
            serde_json::to_string_pretty(&manifest).unwrap_or_default(),
        ),
        (
            manifest::SBOM,
            serde_json::to_string_pretty(&sbom).unwrap_or_default(),
        ),
    ] {
        let path = resultdir.join(name);
        std::fs::write(&path, text + "\n").map_err(IoError::at("write", &path))?;
    }
    Ok(())
}

/// The work directories in `--tmpdir`.
const WORK_PREFIX: &str = "kiln-build";
