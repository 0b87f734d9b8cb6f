#!/bin/bash
# kiln-erofs-live: EROFS live roots for a dracut whose dmsquash-live mounts LiveOS/squashfs.img
# as squashfs only (dracut before 103). Written by kiln into the root's modules.d for the one
# dracut run that makes the live initramfs, and removed after it.

check() {
    return 255
}

depends() {
    echo dmsquash-live
}

installkernel() {
    instmods erofs loop overlay
}

install() {
    # dmsquash-live's script stays, renamed, for every root image that is not EROFS; kiln's
    # takes its name, which dmsquash-live's udev rules and initqueue jobs call.
    local live_root="$initdir/sbin/dmsquash-live-root"
    [[ -e $live_root ]] || live_root="$initdir/usr/sbin/dmsquash-live-root"
    mv "$live_root" "${live_root}-squashfs"
    inst_script "$moddir/kiln-erofs-live-root.sh" "/sbin/dmsquash-live-root"
    inst_multiple blkid losetup mount umount
}
