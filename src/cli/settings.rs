//! Settings, built once from the command line, the kickstart and the environment: the parsed
//! kickstart, resolution and signature options every command that resolves shares, the one
//! `SOURCE_DATE_EPOCH` reader, and `kiln build`'s [`BuildSettings`]. A bad value is reported
//! here (printed, with the exit code returned), before any work starts.

use kiln::creator::{BuildSettings, Outputs, Reuse, Stage};
use kiln::kickstart::commands::bootloader::Bootloader;
use kiln::kickstart::commands::partition::Partition;
use kiln::kickstart::{Kickstart, KsVersion, ParseOptions};
use kiln::media;
use kiln::repo::{self, Cache};
use kiln::resolve::ResolveOptions;

use super::args::{BuildArgs, ResolveArgs};
use super::diagnostics::print_error;
use super::EXIT_BAD_INPUT;

/// A `SOURCE_DATE_EPOCH` that is not a number of seconds.
#[derive(Debug, thiserror::Error)]
#[error("SOURCE_DATE_EPOCH `{value}` is not a number of seconds")]
pub struct BadSourceDateEpoch {
    /// The variable's value as set.
    pub value: String,
}

/// The build's fixed time (reproducible-builds.org): `given` (a `--source-date-epoch`-like
/// flag) first, else `SOURCE_DATE_EPOCH`, else none. A set but unparsable variable is an
/// error, never ignored.
pub fn source_date_epoch(given: Option<i64>) -> Result<Option<i64>, BadSourceDateEpoch> {
    if given.is_some() {
        return Ok(given);
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => match value.trim().parse() {
            Ok(seconds) => Ok(Some(seconds)),
            Err(_) => Err(BadSourceDateEpoch { value }),
        },
        Err(_) => Ok(None),
    }
}

/// [`source_date_epoch`] for formats whose times are unsigned 32-bit seconds (squashfs, the
/// rpmdb's INSTALLTIME): a negative or later-than-2106 value is refused as not a number of them.
pub fn source_date_epoch_u32(given: Option<u32>) -> Result<Option<u32>, BadSourceDateEpoch> {
    match source_date_epoch(given.map(i64::from))? {
        Some(seconds) => u32::try_from(seconds)
            .map(Some)
            .map_err(|_| BadSourceDateEpoch {
                value: seconds.to_string(),
            }),
        None => Ok(None),
    }
}

/// Print `message` as the CLI's error line; the exit code of bad input.
fn bad_input(message: impl std::fmt::Display) -> i32 {
    eprintln!("error: {message}");
    EXIT_BAD_INPUT
}

/// The package cache: `--cache`, else the user's cache directory.
pub(super) fn default_cache() -> std::path::PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return std::path::PathBuf::from(x).join("kiln");
    }
    match std::env::var_os("HOME") {
        Some(h) => std::path::PathBuf::from(h).join(".cache/kiln"),
        None => std::path::PathBuf::from("/var/cache/kiln"),
    }
}

/// `--block-cache-size`: `4G`, `500M`, `64K`, plain bytes (`K`/`M`/`G`/`T` are powers of
/// 1024, an `iB` or `B` after them is allowed); `0` turns the store off.
pub(super) fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let bad = || format!("`{text}` is not a size (e.g. 4G, 500M, 0)");
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(bad()),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits.trim().parse().map_err(|_| bad())?;
    n.checked_mul(1u64 << shift).ok_or_else(bad)
}

/// The block store of the cache directory `cache` with `--block-cache-size` `size`: the store
/// (none when the size is 0, or when it cannot be opened: then a warning, and the build goes
/// on without it) and the limit given (`None`: the default).
pub(super) fn block_store(
    cache: &std::path::Path,
    size: Option<&str>,
) -> Result<(Option<media::block_store::BlockStore>, Option<u64>), String> {
    let limit = size
        .map(parse_bytes)
        .transpose()
        .map_err(|e| format!("--block-cache-size: {e}"))?;
    match media::block_store::open(cache, limit) {
        Ok(store) => Ok((store, limit)),
        Err(e) => {
            eprintln!(
                "warning: building without the block cache: {e}: {}",
                e.source
            );
            Ok((None, limit))
        }
    }
}

/// The host's architecture, the target unless `--arch` says otherwise.
pub(super) fn host_arch() -> String {
    std::env::consts::ARCH.to_string()
}

/// The kickstart of `--ks`, parsed with `--ksversion` (or the syntax `--releasever` implies);
/// errors printed with their lines.
pub(super) fn kickstart(a: &ResolveArgs, color: bool) -> Result<Kickstart, i32> {
    let version = match &a.ksversion {
        Some(name) => KsVersion::from_name(name).ok_or_else(|| {
            bad_input(format_args!(
                "unknown kickstart version `{name}` (use DEVEL, RHEL8, RHEL9 or RHEL10)"
            ))
        })?,
        None => {
            let v = KsVersion::for_releasever(a.releasever.as_deref());
            if v.is_rhel() {
                tracing::info!(
                    "reading the kickstart with pykickstart's {} syntax (from --releasever; \
                     --ksversion chooses another)",
                    v.name()
                );
            }
            v
        }
    };
    let options = ParseOptions {
        version,
        ..ParseOptions::default()
    };
    kiln::kickstart::parse_file(&a.ks, &options).map_err(|e| {
        print_error(&e, color);
        EXIT_BAD_INPUT
    })
}

/// Resolution options for target `arch`: `--repo`, `--cache`/`--cacheonly`, `--releasever`,
/// `--no-filelists`.
pub(super) fn resolve_options(a: &ResolveArgs, arch: String) -> Result<ResolveOptions, i32> {
    let cli_repos = a
        .repos
        .iter()
        .map(|r| repo::parse_repo_arg(r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad_input)?;
    Ok(ResolveOptions {
        arch,
        releasever: a.releasever.clone(),
        cli_repos,
        cache: Cache::new(a.cache.clone().unwrap_or_else(default_cache), a.cacheonly),
        filelists: !a.no_filelists,
    })
}

/// The signature settings of `a`: `--gpgcheck`, `--gpgkey`, `--nogpgcheck` and the
/// `gpgkey=` options of `--repo`.
pub(super) fn gpg_options(a: &ResolveArgs) -> Result<repo::GpgOptions, repo::RepoError> {
    let mut repo_keys = Vec::new();
    for r in &a.repos {
        let (name, _, keys) = repo::parse_repo_arg_keys(r)?;
        if !keys.is_empty() {
            repo_keys.push((name, keys));
        }
    }
    Ok(repo::GpgOptions {
        gpgcheck: a.gpgcheck,
        nogpgcheck: a.nogpgcheck,
        keys: a.gpgkeys.clone(),
        repo_keys,
    })
}

/// `kiln build`'s settings, validated.
pub(super) struct Build {
    /// What the creator runs with.
    pub settings: BuildSettings,
    /// `--shell-before`.
    pub shell_before: Option<Stage>,
}

/// `kiln build`'s settings from its flags, the kickstart and `SOURCE_DATE_EPOCH`; the first bad
/// value is printed and its exit code returned.
pub(super) fn build(a: &BuildArgs, color: bool) -> Result<Build, i32> {
    let ks = kickstart(&a.resolve, color)?;
    let arch_name = a.resolve.arch.clone().unwrap_or_else(host_arch);
    let Some(arch) = kiln::arch::info(&arch_name) else {
        return Err(bad_input(format_args!(
            "unknown architecture `{arch_name}`"
        )));
    };
    let epoch = source_date_epoch(None).map_err(bad_input)?;
    let label = label(a).map_err(bad_input)?;
    let mut squashfs = squashfs_options(a, epoch).map_err(bad_input)?;
    let cache_dir = a.resolve.cache.clone().unwrap_or_else(default_cache);
    let (store, block_store_limit) =
        block_store(&cache_dir, a.block_cache_size.as_deref()).map_err(bad_input)?;
    squashfs.block_store = store;
    let shell_before = shell_before(a).map_err(bad_input)?;
    let resolve = resolve_options(&a.resolve, arch.name.to_string())?;
    let gpg = gpg_options(&a.resolve).map_err(bad_input)?;
    let from_ks = KickstartSettings::new(&ks, a.kernel_args.as_deref());
    let product = a.product.clone().unwrap_or_else(|| "Linux".into());
    let settings = BuildSettings {
        ks_path: a.resolve.ks.clone().into(),
        arch,
        resolve,
        gpg,
        jobs: a.jobs,
        resultdir: a.resultdir.clone(),
        tmpdir: a.tmpdir.clone(),
        label,
        title: a.title.clone().unwrap_or_else(|| product.clone()),
        product,
        squashfs,
        block_store_limit,
        rootfs_type: rootfs_type(a),
        erofs: erofs_root(a).map_err(bad_input)?,
        rootfs_size_mb: from_ks.rootfs_size_mb,
        syslinux: a.syslinux,
        templates: a.templates.clone(),
        kernel_args: from_ks.kernel_args,
        timeout: from_ks.timeout,
        nocleanup: a.nocleanup,
        source_date_epoch: epoch,
        image_only: a.image_only,
        keep_image: a.keep_image,
        no_scripts: false,
        no_digest: a.nodigest,
        reuse: match (&a.fs_image, &a.disk_image) {
            (Some(p), _) => Some(Reuse::FsImage(p.clone())),
            (None, Some(p)) => Some(Reuse::DiskImage(p.clone())),
            _ => None,
        },
        outputs: outputs(a),
        dracut: dracut(a)?,
        post_network: kiln::configure::PostNetwork::from_name(&a.post_network)
            .expect("clap allows only host and none"),
        ks,
    };
    Ok(Build {
        settings,
        shell_before,
    })
}

/// What the kickstart decides for the media, read in one place.
struct KickstartSettings {
    /// `bootloader --append`, then `--kernel-args`.
    kernel_args: String,
    /// `bootloader --timeout`, else 10 s.
    timeout: u32,
    /// `part / --size`, else 4 GiB.
    rootfs_size_mb: u64,
}

impl KickstartSettings {
    fn new(ks: &Kickstart, extra_kernel_args: Option<&str>) -> Self {
        let mut kernel_args = kiln::configure::kernel_cmdline(ks);
        // An argument the kickstart's line has already is not repeated: Koji passes
        // `bootloader --append` again as livemedia-creator's --extra-boot-args.
        let have: Vec<String> = kernel_args.split_whitespace().map(str::to_string).collect();
        for word in extra_kernel_args.unwrap_or_default().split_whitespace() {
            if !have.iter().any(|h| h == word) {
                if !kernel_args.is_empty() {
                    kernel_args.push(' ');
                }
                kernel_args.push_str(word);
            }
        }
        KickstartSettings {
            kernel_args,
            timeout: ks
                .command::<Bootloader>()
                .and_then(|b| b.timeout)
                .map(|t| t.max(0) as u32)
                .unwrap_or(10),
            rootfs_size_mb: ks
                .command::<Partition>()
                .and_then(|p| p.root_size_mib())
                .map(|s| s as u64)
                .unwrap_or(4096),
        }
    }
}

/// `-f/--fslabel`, else livecd-creator's default; at most 32 printable ASCII characters.
fn label(a: &BuildArgs) -> Result<String, String> {
    let label = a
        .fslabel
        .clone()
        .unwrap_or_else(|| default_label(&a.resolve.ks));
    if label.len() > 32 || !label.bytes().all(|c| (0x21..0x7f).contains(&c)) {
        return Err(format!(
            "label `{label}` must be at most 32 printable ASCII characters without spaces"
        ));
    }
    Ok(label)
}

/// livecd-creator's default label: `livecd-<kickstart name>`, at most 32 characters.
fn default_label(ks: &str) -> String {
    let stem = std::path::Path::new(ks)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    let clean = stem.replace(
        |c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "-",
    );
    let mut label = format!("livecd-{clean}");
    label.truncate(32);
    label
}

/// `--rootfs-type`, with `--ext4-in-squashfs` its `squashfs-ext4`.
fn rootfs_type(a: &BuildArgs) -> media::RootfsType {
    if a.ext4_in_squashfs {
        return media::RootfsType::SquashfsExt4;
    }
    // clap checked the name.
    media::RootfsType::parse(&a.rootfs_type).unwrap_or_default()
}

/// `--erofs-compression` and `--erofs-pcluster`.
fn erofs_root(a: &BuildArgs) -> Result<media::live::ErofsRoot, String> {
    let compression = a
        .erofs_compression
        .as_deref()
        .map(media::ErofsCompression::parse)
        .transpose()
        .map_err(|e| format!("--erofs-compression: {e}"))?;
    let pcluster_size =
        media::parse_size(&a.erofs_pcluster).map_err(|e| format!("--erofs-pcluster: {e}"))?;
    if pcluster_size == 0 || pcluster_size % 4096 != 0 {
        return Err(format!(
            "--erofs-pcluster: {} is not a multiple of the 4096-byte block",
            a.erofs_pcluster
        ));
    }
    Ok(media::live::ErofsRoot {
        compression,
        pcluster_size,
    })
}

/// The root image's squashfs options: `--compression`, `--compress-arg`, and the build's
/// fixed time when there is one (else now, no clamp).
fn squashfs_options(a: &BuildArgs, epoch: Option<i64>) -> Result<media::SquashfsOptions, String> {
    let (block, codec_options) = compress_args(&a.compress_args)?;
    let codec = media::codec(&a.compression, &codec_options).map_err(|e| e.to_string())?;
    let block_size =
        media::parse_size(block.as_deref().unwrap_or("128K")).map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    Ok(media::SquashfsOptions {
        codec,
        block_size,
        mkfs_time: epoch.map(|e| e as u32).unwrap_or(now),
        clamp_mtime: epoch,
        ..media::SquashfsOptions::default()
    })
}

/// mksquashfs-style `--compress-arg` values (`-b 1M`, `-Xbcj x86`, ...) or kiln's
/// `KEY=VALUE`, into (block size, codec options).
fn compress_args(args: &[String]) -> Result<(Option<String>, Vec<String>), String> {
    // Each value may hold a flag and its argument ("-b 1M") or come as two values.
    let words: Vec<String> = args
        .iter()
        .flat_map(|a| a.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let mut block = None;
    let mut opts = Vec::new();
    let mut i = 0;
    let next = |i: &mut usize, flag: &str| -> Result<String, String> {
        *i += 1;
        words
            .get(*i)
            .cloned()
            .ok_or_else(|| format!("`{flag}` needs a value"))
    };
    while i < words.len() {
        let w = words[i].clone();
        match w.as_str() {
            "-b" => block = Some(next(&mut i, "-b")?),
            "-Xbcj" => opts.push(format!("bcj={}", next(&mut i, "-Xbcj")?)),
            "-Xdict-size" => opts.push(format!("dict-size={}", next(&mut i, "-Xdict-size")?)),
            "-Xcompression-level" => {
                opts.push(format!("level={}", next(&mut i, "-Xcompression-level")?))
            }
            "-Xpreset" => opts.push(format!("preset={}", next(&mut i, "-Xpreset")?)),
            "-Xe" => opts.push("extreme".into()),
            "-Xhc" => opts.push("hc".into()),
            "-Xwindow-size" => opts.push(format!("window={}", next(&mut i, "-Xwindow-size")?)),
            _ if w.starts_with('-') => return Err(format!("unsupported --compress-arg `{w}`")),
            _ => opts.push(w),
        }
        i += 1;
    }
    Ok((block, opts))
}

/// `--dracut-arg`/`--dracut-conf`: the file must be readable now, not after the install; with
/// both given the file wins (livemedia-creator's rule), which is said.
fn dracut(a: &BuildArgs) -> Result<kiln::boot::DracutArgs, i32> {
    if let Some(conf) = &a.dracut_conf {
        if let Err(e) = std::fs::File::open(conf) {
            return Err(bad_input(format_args!(
                "cannot read the --dracut-conf file `{}`: {e}",
                conf.display()
            )));
        }
        if !a.dracut_args.is_empty() {
            eprintln!(
                "warning: --dracut-conf is given: the --dracut-arg arguments are not used (as in \
                 livemedia-creator)"
            );
        }
    }
    Ok(kiln::boot::DracutArgs::from_flags(
        &a.dracut_args,
        a.dracut_conf.as_deref(),
    ))
}

/// `--shell-before`: a stage name.
fn shell_before(a: &BuildArgs) -> Result<Option<Stage>, String> {
    match a.shell_before.as_deref() {
        None => Ok(None),
        Some(name) => Stage::from_name(name).map(Some).ok_or_else(|| {
            format!("unknown stage `{name}` (prepare, install, configure, finalize, package)")
        }),
    }
}

/// The `--make-*` flags; the ISO is the default output when none is given.
fn outputs(a: &BuildArgs) -> Outputs {
    let others = a.make_pxe_live || a.make_netroot || a.make_disk || a.make_fsimage || a.make_tar;
    let (program, suffix) = media::disk::tar_compressor(&a.compression);
    Outputs {
        iso: a.make_iso || !others,
        pxe_live: a.make_pxe_live,
        netroot: a.make_netroot,
        disk: a.make_disk,
        qcow2: a.qcow2,
        fsimage: a.make_fsimage,
        tar: a.make_tar,
        tar_compressor: (program.to_string(), suffix.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mksquashfs_style_args() {
        let (b, o) = compress_args(&["-b 1M".into(), "-Xbcj".into(), "x86".into()]).unwrap();
        assert_eq!(b.as_deref(), Some("1M"));
        assert_eq!(o, vec!["bcj=x86".to_string()]);
        assert!(compress_args(&["-nope".into()]).is_err());
        assert_eq!(default_label("/x/live-x86_64.ks"), "livecd-live-x86_64");
    }

    #[test]
    fn block_cache_sizes() {
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("4G"), Ok(4 << 30));
        assert_eq!(parse_bytes("500M"), Ok(500 << 20));
        assert_eq!(parse_bytes("64KiB"), Ok(64 << 10));
        assert_eq!(parse_bytes("1234"), Ok(1234));
        assert!(parse_bytes("4X").is_err());
        assert!(parse_bytes("G").is_err());
        assert!(parse_bytes("-1").is_err());
    }

    #[test]
    fn a_given_epoch_wins_over_the_environment() {
        assert_eq!(source_date_epoch(Some(7)).unwrap(), Some(7));
    }
}
