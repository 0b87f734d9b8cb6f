//! `kiln iso-to-pxeboot` and `kiln iso-to-netroot`.

use kiln::media::netboot;

use super::args::{IsoToNetrootArgs, IsoToPxebootArgs};
use super::{EXIT_BAD_INPUT, EXIT_ENV, EXIT_OK};

fn fail(e: kiln::media::MediaError) -> anyhow::Result<i32> {
    eprintln!("error: {}", super::resolve::cause_chain(&e));
    Ok(match e {
        kiln::media::MediaError::NotLive(_) => EXIT_BAD_INPUT,
        _ => EXIT_ENV,
    })
}

/// `kiln iso-to-pxeboot ISO [OUTDIR]`.
pub fn run_pxeboot(a: &IsoToPxebootArgs) -> anyhow::Result<i32> {
    if !a.iso.is_file() {
        eprintln!("error: `{}` not found", a.iso.display());
        return Ok(EXIT_BAD_INPUT);
    }
    match netboot::iso_to_pxeboot(&a.iso, &a.outdir) {
        Ok(()) => {
            eprintln!(
                "PXE tree in {}: serve it over TFTP with pxelinux.0 as the boot file, e.g.\n  qemu-system-x86_64 -m 2048 -netdev user,id=n0,tftp={},bootfile=pxelinux.0 -device virtio-net-pci,netdev=n0 -boot n\n  kiln boot-test {}",
                a.outdir.display(),
                a.outdir.display(),
                a.outdir.display()
            );
            Ok(EXIT_OK)
        }
        Err(e) => fail(e),
    }
}

/// `kiln iso-to-netroot ISO OUTDIR`.
pub fn run_netroot(a: &IsoToNetrootArgs) -> anyhow::Result<i32> {
    if !a.iso.is_file() {
        eprintln!("error: `{}` not found", a.iso.display());
        return Ok(EXIT_BAD_INPUT);
    }
    match netboot::iso_to_netroot(&a.iso, &a.outdir, &a.server) {
        Ok(label) => {
            let o = a.outdir.display();
            eprintln!(
                "netroot `{label}` in {o}: nbd-server -C {o}/images/nbd.conf, TFTP root {o}/tftp (boot file pxelinux.0)\n  kiln boot-test {o}"
            );
            Ok(EXIT_OK)
        }
        Err(e) => fail(e),
    }
}
