//! IEEE 1275 (Open Firmware) boot, as lorax lays out ppc64le media: a GRUB core image for
//! `powerpc-ieee1275` made by the root's own grub-mkimage (run under emulation on another
//! host), its modules beside it in `boot/grub/powerpc-ieee1275/`, the menu in
//! `boot/grub/grub.cfg`, and the CHRP boot script `ppc/bootinfo.txt` that names the core image.
//!
//! SLOF (pseries) and other CHRP firmware open `\ppc\bootinfo.txt` on an ISO 9660 volume of
//! the boot device and load the ELF its `<boot-script>` names; petitboot (PowerNV) reads
//! `boot/grub/grub.cfg` itself. Both read the volume however it is attached (CD-ROM or disk),
//! so the ISO needs no El Torito entry; `media/` marks it as a CHRP partition
//! ([`super::BootAssets::ieee1275_image`]) and writes the primary names untranslated, as
//! lorax's mkisofs `-U -chrp-boot` does, since the firmware looks files up by their own names.

use std::path::Path;

use super::{
    chroot_run, copy, copy_grub_modules, first_in_root, layout, rj, BootAssets, BootError,
    BootOptions,
};
use crate::error::IoError;
use crate::install::scriptlet::ScriptRunner;

/// Modules built into the core image: what it needs to read its prefix (`()/boot/grub` on the
/// boot device) before `normal.mod` and the rest load from there; lorax's list, less the
/// network ones (no netboot from these media).
const CORE_MODULES: [&str; 4] = ["iso9660", "ext2", "part_msdos", "part_gpt"];

/// The CHRP boot script: SLOF replaces `&device;` with the device it read this file from. The
/// path follows an empty partition field (`device:,path`, IEEE 1275's `partition,file`): with
/// `device:path` GRUB takes the path for a partition number ("unrecognized number").
fn bootinfo(title: &str, core_image: &str) -> String {
    let path = core_image.replace('/', "\\");
    format!(
        "<chrp-boot>\n<description>{title}</description>\n<os-name>{title}</os-name>\n\
         <boot-script>boot &device;:,\\{path}</boot-script>\n</chrp-boot>\n"
    )
}

/// Lay out the IEEE 1275 boot files for GRUB platform `target` in the staging directory `iso`.
pub(super) fn prepare(
    root: &Path,
    iso: &Path,
    grub_cfg: &str,
    target: &str,
    opts: &BootOptions,
    runner: &ScriptRunner,
    assets: &mut BootAssets,
) -> Result<(), BootError> {
    let moddir = first_in_root(
        root,
        &[
            &format!("/usr/lib/grub/{target}"),
            &format!("/usr/lib/grub2/{target}"),
        ],
    )
    .ok_or_else(|| BootError::Missing {
        path: format!("/usr/lib/grub/{target}"),
        hint: "add GRUB's Open Firmware modules (`grub2-ppc64le-modules` on Fedora, \
               `grub-ieee1275-bin` on Debian)"
            .into(),
    })?;
    let mkimage = first_in_root(root, &["/usr/bin/grub2-mkimage", "/usr/bin/grub-mkimage"])
        .ok_or_else(|| BootError::Missing {
            path: "/usr/bin/grub2-mkimage".into(),
            hint: "add `grub2-tools` (Fedora) or `grub-common` (Debian)".into(),
        })?;
    let var_tmp = rj(root, "var/tmp");
    std::fs::create_dir_all(&var_tmp).map_err(IoError::at("create", &var_tmp))?;
    let out_in_root = "/var/tmp/kiln-core.elf";
    // "()" is the device the firmware loaded the image from (lorax's prefix).
    let prefix = format!("()/{}", layout::GRUB_IEEE1275_DIR);
    let mut argv: Vec<String> = [
        mkimage.as_str(),
        "-O",
        target,
        "-d",
        &moddir,
        "-p",
        &prefix,
        "-o",
        out_in_root,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend(CORE_MODULES.iter().map(|m| m.to_string()));
    chroot_run(runner, root, &argv)?;
    let platform_dir = iso.join(layout::GRUB_IEEE1275_DIR).join(target);
    let core = format!("{}/{target}/core.elf", layout::GRUB_IEEE1275_DIR);
    let img = rj(root, out_in_root.trim_start_matches('/'));
    copy(&img, &iso.join(&core))?;
    let _ = std::fs::remove_file(&img);
    // The modules and their lists, which the core image loads from its prefix.
    copy_grub_modules(root, &moddir, &platform_dir)?;
    let cfg = iso.join(layout::GRUB_IEEE1275_DIR).join("grub.cfg");
    std::fs::write(&cfg, grub_cfg).map_err(IoError::at("write", &cfg))?;
    let info = iso.join(layout::BOOTINFO);
    copy_text(&info, &bootinfo(&opts.title, &core))?;
    assets.ieee1275_image = Some(core);
    Ok(())
}

fn copy_text(path: &Path, text: &str) -> Result<(), BootError> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(IoError::at("create", p))?;
    }
    std::fs::write(path, text).map_err(IoError::at("write", path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SLOF's `parse-bootinfo-txt` takes what follows `&device;:` up to `</boot-script>` as
    /// the partition and file to load, backslashes between the directories.
    #[test]
    fn bootinfo_names_the_core_image_for_slof() {
        let text = bootinfo("Kiln Live", "boot/grub/powerpc-ieee1275/core.elf");
        let script = text
            .split("<boot-script>")
            .nth(1)
            .and_then(|s| s.split("</boot-script>").next())
            .unwrap();
        assert_eq!(
            script,
            "boot &device;:,\\boot\\grub\\powerpc-ieee1275\\core.elf"
        );
        assert!(text.starts_with("<chrp-boot>\n") && text.ends_with("</chrp-boot>\n"));
    }
}
