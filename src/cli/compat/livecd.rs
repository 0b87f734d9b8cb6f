//! livecd-creator's command line (livecd-tools), as Koji's LiveCDTask runs it:
//! `livecd-creator -c KS -d -v --logfile LOG --cache DIR -f VOLID` in the directory where it
//! then looks for the one `.iso`.

use std::io::Write;
use std::path::PathBuf;

use super::{build_name, compressor, date_stamp, log_dir, Plan};

/// livecd-creator: creates a live CD or DVD image (ISO) from a kickstart file, with kiln.
#[derive(Debug, clap::Parser)]
#[command(
    name = "livecd-creator",
    about = "Creates a live CD or DVD image (ISO) from a kickstart file: livecd-creator's \
             options, built by kiln (no loop mounts, no yum/dnf).",
    after_help = "Output: LABEL.iso (or NAME.iso) in --output, beside kiln's manifest.json, \
                  sbom.spdx.json, kickstarts and build.log. KILN_COMPAT_DRY_RUN=1 prints the \
                  kiln build these options amount to instead of building."
)]
pub struct Args {
    /// Path or URL of the kickstart file.
    #[arg(short = 'c', long = "config", value_name = "KSCFG")]
    pub config: Option<String>,
    /// The kickstart as the last argument (image-creator's form).
    #[arg(value_name = "KSCFG", hide = true)]
    pub config_arg: Option<String>,
    /// Add packages to an existing live image: not supported by kiln (an error says what to
    /// use instead).
    #[arg(short = 'b', long = "base-on", value_name = "BASE_ON")]
    pub base_on: Option<String>,
    /// File system label, also the ISO's name (default: livecd-KSNAME-ARCH-YYYYMMDDHHMM, at
    /// most 32 characters; the ISO then livecd-KSNAME-YYYYMMDDHHMM.iso).
    #[arg(
        short = 'f',
        long = "fslabel",
        visible_short_alias = 'n',
        visible_alias = "name",
        value_name = "FS_LABEL"
    )]
    pub fslabel: Option<String>,
    /// Title in the boot menus (default: the first two words of the name).
    #[arg(long, value_name = "TITLE")]
    pub title: Option<String>,
    /// Product name in the boot menus and the ISO's application id (default as --title).
    #[arg(long, value_name = "PRODUCT")]
    pub product: Option<String>,
    /// Value of $releasever in the kickstart's repository URLs.
    #[arg(long, value_name = "VER")]
    pub releasever: Option<String>,
    /// "TYPE [ARGS]": the squashfs compressor (xz, zstd, gzip, lz4) and mksquashfs-style
    /// arguments (`"xz -Xbcj x86 -b 1M"`); lzo, lzma and None are refused.
    #[arg(
        long = "compression-type",
        value_name = "COMPRESS_ARGS",
        default_value = "xz",
        allow_hyphen_values = true
    )]
    pub compression_type: String,
    /// The root directly in LiveOS/squashfs.img (OverlayFS-ready), instead of livecd-creator's
    /// default, an ext4 LiveOS/rootfs.img inside it (kiln build's default is the flat one).
    #[arg(long)]
    pub flat_squashfs: bool,
    /// dracut.conf lines for the live initramfs (`'add_drivers+=" e1000 "'`), added to
    /// kiln's live settings.
    #[arg(long, value_name = "DRACUT_ARGS")]
    pub dracut_conf_args: Option<String>,
    /// A repository instead of the kickstart's, NAME,URL (repeatable; kiln's --repo).
    #[arg(long = "repo", value_name = "NAME,URL")]
    pub repos: Vec<String>,
    /// Temporary directory.
    #[arg(short = 't', long, default_value = "/var/tmp", value_name = "TMPDIR")]
    pub tmpdir: PathBuf,
    /// Directory for the image.
    #[arg(
        short = 'o',
        long = "output",
        default_value = ".",
        value_name = "OUTPUT_DIR"
    )]
    pub output: PathBuf,
    /// Cache directory (downloaded packages stay there, as in livecd-creator's yum cache).
    #[arg(long, value_name = "CACHEDIR")]
    pub cache: Option<PathBuf>,
    /// Work offline from the cache.
    #[arg(long)]
    pub cacheonly: bool,
    /// Keep the temporary files.
    #[arg(long)]
    pub nocleanup: bool,
    /// Save debug information to FILE (its directory is created).
    #[arg(long, value_name = "FILE")]
    pub logfile: Option<PathBuf>,
    /// Start a shell in the root after it is configured, before the image is made.
    #[arg(short = 'l', long)]
    pub shell: bool,
    /// Debugging output.
    #[arg(short = 'd', long)]
    pub debug: bool,
    /// Verbose progress (kiln's normal output).
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Less output (kiln's normal output is already short).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not compress the image: kiln always compresses it, with lz4 then (the lightest).
    #[arg(short = 's', long)]
    pub skip_compression: bool,
    /// Do not shrink the ext4 image (kiln writes it sparse and never shrinks it).
    #[arg(long)]
    pub skip_minimize: bool,
    /// Make no Mac boot image (kiln makes none anyway).
    #[arg(long)]
    pub nomacboot: bool,
}

/// The kiln build `a` amounts to.
pub fn plan(a: &Args) -> Result<Plan, String> {
    let ks = a
        .config
        .clone()
        .or_else(|| a.config_arg.clone())
        .ok_or("Kickstart file must be provided (-c/--config)")?;
    if let Some(iso) = &a.base_on {
        return Err(format!(
            "-b/--base-on {iso}: kiln does not add packages to an existing live image; build \
             the kickstart with the packages added, or repackage an image's root with `kiln \
             build --fs-image IMG`"
        ));
    }
    let mut p = Plan::build();
    if a.debug {
        p.argv.insert(1, "-v".into());
    }
    p.opt("--ks", &ks);
    let date = date_stamp();
    let (name, label) = match &a.fslabel {
        Some(l) => {
            if l.len() > 32 {
                return Err("CD labels are limited to 32 characters".into());
            }
            if l.contains(' ') {
                return Err("CD labels cannot contain spaces.".into());
            }
            (l.clone(), l.clone())
        }
        None => (
            build_name(&ks, "livecd-", &date, None),
            build_name(
                &ks,
                "livecd-",
                &format!("{}-{date}", std::env::consts::ARCH),
                Some(32),
            ),
        ),
    };
    p.opt("-f", &label);
    let two_words = title_case(&name.split('-').take(2).collect::<Vec<_>>().join(" "));
    p.opt(
        "--title",
        a.title.clone().unwrap_or_else(|| two_words.clone()),
    );
    p.opt("--product", a.product.clone().unwrap_or(two_words));
    if let Some(v) = &a.releasever {
        p.opt("--releasever", v);
    }
    let mut words = a.compression_type.split_whitespace();
    let codec = compressor("--compression-type", words.next().unwrap_or("None"))?;
    let codec_args: Vec<&str> = words.collect();
    if a.skip_compression {
        p.notes.push(
            "-s/--skip-compression: kiln always compresses the root image; lz4 (the lightest) \
             is used"
                .into(),
        );
        p.opt("--compression", "lz4");
    } else {
        p.opt("--compression", codec);
        if !codec_args.is_empty() {
            p.opt("--compress-arg", codec_args.join(" "));
        }
    }
    p.opt(
        "--rootfs-type",
        if a.flat_squashfs {
            "squashfs"
        } else {
            "squashfs-ext4"
        },
    );
    if let Some(lines) = &a.dracut_conf_args {
        let conf = dracut_conf(&a.tmpdir, lines)?;
        p.opt("--dracut-conf", conf.path());
        p.scratch = Some(conf);
    }
    for r in &a.repos {
        p.opt("--repo", r);
    }
    p.opt("--tmpdir", &a.tmpdir);
    p.opt("--resultdir", &a.output);
    p.resultdir = a.output.clone();
    if let Some(c) = &a.cache {
        p.opt("--cache", c);
    }
    if a.cacheonly {
        p.flag("--cacheonly");
    }
    if a.nocleanup {
        p.flag("--nocleanup");
    }
    if let Some(log) = &a.logfile {
        p.opt("--logfile", log);
        p.dirs.extend(log_dir(log));
    }
    if a.shell {
        p.opt("--shell-before", "finalize");
    }
    if a.nomacboot {
        p.notes
            .push("--nomacboot: kiln makes no HFS+ Mac boot image in any case".into());
    }
    if name != label {
        p.renames
            .push((format!("{label}.iso"), format!("{name}.iso")));
    }
    Ok(p)
}

/// Python's `str.title()` for ASCII: each run of letters capitalised.
fn title_case(text: &str) -> String {
    let mut after_letter = false;
    text.chars()
        .map(|c| {
            let out = if after_letter {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            };
            after_letter = c.is_ascii_alphabetic();
            out
        })
        .collect()
}

/// `--dracut-conf-args`: a dracut.conf with kiln's live settings (what its default dracut
/// arguments say) and the given lines after them, for `kiln build --dracut-conf`.
fn dracut_conf(tmpdir: &std::path::Path, lines: &str) -> Result<tempfile::NamedTempFile, String> {
    let fail = |e: std::io::Error| format!("--dracut-conf-args: cannot write a dracut.conf: {e}");
    let mut f = tempfile::Builder::new()
        .prefix("kiln-livecd-dracut-")
        .suffix(".conf")
        .tempfile_in(tmpdir)
        .map_err(fail)?;
    write!(
        f,
        "# livecd-creator --dracut-conf-args, after kiln's live settings\n\
         hostonly=\"no\"\nhostonly_cmdline=\"no\"\nomit_dracutmodules+=\" plymouth \"\n\
         add_dracutmodules+=\" dmsquash-live \"\n{lines}\n"
    )
    .map_err(fail)?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_as_python_makes_them() {
        assert_eq!(title_case("livecd live"), "Livecd Live");
        assert_eq!(title_case("FEDORA x86_64"), "Fedora X86_64");
    }
}
