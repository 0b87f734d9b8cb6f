# shellcheck shell=bash disable=SC2034 # the PEER_* results are read by the sourcing bench
# The peer pipeline livecd-creator/livemedia-creator run, for the benches that compare a whole
# live ISO build with it (live-iso-vs-peer.sh, rebuild-vs-peer.sh; iso-vs-xorriso.sh takes
# peer_xorriso). Source it; bash only.
#   peer_root ROOT REPO NEVRAS LOGDIR   `dnf --installroot` of the NEVRAs (a file, one a line)
#       from the file:// REPO, then dracut in the chroot (the root's own, as livecd-creator runs
#       it). Sets PEER_DNF_S, PEER_DRACUT_S (seconds) and PEER_KVER.
#   peer_iso ROOT KILN_ISO ISO TREE MAKE_IMAGE   the ISO tree from KILN_ISO's boot files
#       (untimed copy), ROOT's initramfs, the root image `MAKE_IMAGE ROOT IMAGE` makes (timed)
#       and `xorriso -as mkisofs` with lorax's x86 flags (timed). Sets PEER_IMAGE_S,
#       PEER_XORRISO_S, PEER_IMAGE_BYTES, PEER_ISO_BYTES; removes TREE and keeps ISO.
#   peer_mksquashfs ROOT IMAGE ARGS...   mksquashfs on every core, quiet.
#   peer_xorriso VOLID ISO TREE MBR   `xorriso -as mkisofs` of TREE with lorax's x86 flags (El
#       Torito BIOS images/eltorito.img + UEFI images/efiboot.img, hybrid MBR/GPT), quiet.

peer_now() { date +%s.%N; }

peer_xorriso() {
  local volid=$1 iso=$2 tree=$3 mbr=$4
  xorriso -as mkisofs -R -J -V "$volid" -o "$iso" --grub2-mbr "$mbr" \
    -appended_part_as_gpt -append_partition 2 C12A7328-F81F-11D2-BA4B-00A0C93EC93B \
    "$tree/images/efiboot.img" -iso_mbr_part_type EBD0A0A2-B9E5-4433-87C0-68B6B72699C7 \
    -c boot.cat -b images/eltorito.img -no-emul-boot -boot-load-size 4 -boot-info-table \
    --grub2-boot-info -eltorito-alt-boot -e images/efiboot.img -no-emul-boot \
    "$tree" >/dev/null 2>&1
}

peer_root() {
  local root=$1 repo=$2 nevras=$3 logs=$4 t0 t1 t2
  t0=$(peer_now)
  # shellcheck disable=SC2046 # one NEVRA a word
  dnf -q --installroot="$root" --releasever=1 --disablerepo='*' \
    --repofrompath=fx,"file://$repo" --enablerepo=fx --nogpgcheck \
    --setopt=install_weak_deps=False --setopt=cachedir="$logs/dnfcache" \
    -y install $(cat "$nevras") >/dev/null 2>"$logs/dnf.log"
  t1=$(peer_now)
  PEER_KVER=$(ls "$root/lib/modules" | head -1)
  # Mounts live in a private namespace: nothing is left if the bench dies.
  unshare -m --propagation private sh -c '
    r=$1; k=$2
    mount -t proc proc "$r/proc"; mount -t sysfs -o ro sysfs "$r/sys"; mount --rbind /dev "$r/dev"
    chroot "$r" dracut -q --no-hostonly --add dmsquash-live --force "/boot/initramfs-$k.img" "$k"
  ' _ "$root" "$PEER_KVER" >"$logs/dracut.log" 2>&1
  t2=$(peer_now)
  PEER_DNF_S=$(echo "$t1 - $t0" | bc)
  PEER_DRACUT_S=$(echo "$t2 - $t1" | bc)
}

peer_iso() {
  local root=$1 kiln_iso=$2 iso=$3 tree=$4 make_image=$5 t0 t1 t2
  local mbr=/usr/lib/grub/i386-pc/boot_hybrid.img
  rm -rf "$tree"; mkdir -p "$tree"
  xorriso -osirrox on -indev "$kiln_iso" -extract / "$tree" >/dev/null 2>&1
  chmod -R u+w "$tree"; rm -f "$tree/LiveOS/squashfs.img"
  cp "$root/boot/initramfs-$PEER_KVER.img" "$tree/images/pxeboot/initrd.img"
  t0=$(peer_now)
  "$make_image" "$root" "$tree/LiveOS/squashfs.img"
  t1=$(peer_now)
  peer_xorriso KILNBENCH "$iso" "$tree" "$mbr"
  t2=$(peer_now)
  PEER_IMAGE_S=$(echo "$t1 - $t0" | bc)
  PEER_XORRISO_S=$(echo "$t2 - $t1" | bc)
  PEER_IMAGE_BYTES=$(stat -c %s "$tree/LiveOS/squashfs.img")
  PEER_ISO_BYTES=$(stat -c %s "$iso")
  rm -rf "$tree"
}

peer_mksquashfs() {
  local root=$1 img=$2; shift 2
  mksquashfs "$root" "$img" "$@" -processors "$(nproc)" -noappend -no-progress -quiet >/dev/null
}
