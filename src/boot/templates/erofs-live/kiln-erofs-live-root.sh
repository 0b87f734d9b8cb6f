#!/bin/sh
# kiln: the live root from an EROFS LiveOS/squashfs.img (plain, or holding LiveOS/rootfs.img),
# mounted read-only under a tmpfs-backed overlayfs (the kernel command line carries
# rd.live.overlay.overlayfs=1, so dracut's overlay mount takes /run/rootfsbase as its lower
# layer). Any other image goes to dmsquash-live's own script, which this one stands in for.

type getarg > /dev/null 2>&1 || . /lib/dracut-lib.sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin

[ -n "$1" ] || exit 1
livedev="$1"

dracut_script=/sbin/dmsquash-live-root-squashfs
[ -x "$dracut_script" ] || dracut_script=/usr/sbin/dmsquash-live-root-squashfs

dir=$(getarg rd.live.dir -d live_dir)
[ -n "$dir" ] || dir=LiveOS
name=$(getarg rd.live.squashimg)
[ -n "$name" ] || name=squashfs.img

fs_type() {
    blkid -o value -s TYPE "$1" 2> /dev/null
}

media=""
if [ -f "$livedev" ]; then
    # The image itself (PXE: in the initramfs, or fetched by livenet).
    image="$livedev"
else
    media_type=$(fs_type "$livedev")
    mkdir -m 0755 -p /run/initramfs/live
    if ! mount -n -t "$media_type" -o ro "$livedev" /run/initramfs/live; then
        exec "$dracut_script" "$@"
    fi
    media=/run/initramfs/live
    image="$media/$dir/$name"
fi

modprobe -q erofs
if [ ! -f "$image" ] || [ "$(fs_type "$image")" != erofs ]; then
    [ -n "$media" ] && umount "$media"
    exec "$dracut_script" "$@"
fi

info "kiln: EROFS live root $image"
ln -sf "$livedev" /run/initramfs/livedev
image_dev=$(losetup -r -f --show "$image") || die "kiln: cannot attach $image"
mkdir -m 0755 -p /run/initramfs/erofs /run/rootfsbase
mount -n -t erofs -o ro "$image_dev" /run/initramfs/erofs \
    || die "kiln: cannot mount $image as EROFS (is the erofs module in the initramfs?)"
if [ -f /run/initramfs/erofs/LiveOS/rootfs.img ]; then
    # erofs-ext4: the root is the ext4 image inside.
    ext4_dev=$(losetup -r -f --show /run/initramfs/erofs/LiveOS/rootfs.img) \
        || die "kiln: cannot attach LiveOS/rootfs.img"
    mount -n -t ext4 -o ro,noload "$ext4_dev" /run/rootfsbase \
        || die "kiln: cannot mount LiveOS/rootfs.img"
else
    # A bind, not --move: under systemd /run is a shared mount, which --move refuses.
    mount -n --bind /run/initramfs/erofs /run/rootfsbase \
        || die "kiln: cannot bind the EROFS root to /run/rootfsbase"
fi
mkdir -m 0755 -p /run/overlayfs /run/ovlwork

# What dmsquash-live's initqueue waits for.
ln -s null /dev/root
need_shutdown
exit 0
