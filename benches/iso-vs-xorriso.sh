#!/usr/bin/env bash
# Side-by-side run of `kiln write iso` and `xorriso -as mkisofs` with lorax's x86 flags
# (GRUB El Torito + UEFI image + hybrid MBR/GPT with an appended ESP) on the same live-media
# tree; prints wall times and the ratio kiln / xorriso. Each tool runs REPEAT times, best kept.
# Usage: benches/iso-vs-xorriso.sh [TREE] [KILN_BINARY] [REPEAT]
# Without TREE, one is made: a ~1.5 GB LiveOS/squashfs.img of random data, a GRUB eltorito
# core, an efiboot.img made by `kiln write efiboot` and a few hundred small files.
# No thresholds: this is a measurement, not a test.
set -euo pipefail
# shellcheck source=benches/lib-peer.sh
. "$(dirname "$0")/lib-peer.sh"
tree=${1:-}
kiln=${2:-target/release/kiln}
repeat=${3:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mbr=/usr/lib/grub/i386-pc/boot_hybrid.img
if [ -z "$tree" ]; then
  tree=$work/tree
  mkdir -p "$tree/LiveOS" "$tree/images" "$tree/EFI/BOOT" "$tree/boot/grub2" "$work/efi/EFI/BOOT"
  head -c 1500M /dev/urandom > "$tree/LiveOS/squashfs.img"
  for i in $(seq 1 300); do head -c $((i * 97)) /dev/urandom > "$tree/boot/grub2/mod$i.mod"; done
  printf 'echo bench\n' > "$work/early.cfg"
  grub-mkimage -O i386-pc-eltorito -p /boot/grub2 -c "$work/early.cfg" \
    -o "$tree/images/eltorito.img" biosdisk iso9660 normal echo
  grub-mkimage -O x86_64-efi -p /EFI/BOOT -c "$work/early.cfg" \
    -o "$work/efi/EFI/BOOT/BOOTX64.EFI" normal echo fat iso9660
  cp "$work/efi/EFI/BOOT/BOOTX64.EFI" "$tree/EFI/BOOT/"
  "$kiln" write efiboot "$work/efi" "$tree/images/efiboot.img"
fi
# Warm the page cache so neither tool pays for the first read.
tar -cf - -C "$tree" . >/dev/null 2>&1 || true
best() { sort -g | head -1; }
kt=(); xt=()
for _ in $(seq 1 "$repeat"); do
  t0=$(date +%s.%N)
  "$kiln" write iso "$tree" "$work/k.iso" --volid BENCH --bios-boot images/eltorito.img \
    --efi-boot images/efiboot.img --hybrid-mbr "$mbr" 2>/dev/null
  t1=$(date +%s.%N)
  peer_xorriso BENCH "$work/x.iso" "$tree" "$mbr"
  t2=$(date +%s.%N)
  kt+=("$(echo "$t1 - $t0" | bc)"); xt+=("$(echo "$t2 - $t1" | bc)")
  rm -f "$work/k.iso" "$work/x.iso"
done
k=$(printf '%s\n' "${kt[@]}" | best); x=$(printf '%s\n' "${xt[@]}" | best)
du -sh --apparent-size "$tree" | awk '{print "tree: " $1}'
awk -v k="$k" -v x="$x" 'BEGIN { printf "kiln %.2f s  xorriso %.2f s  ratio %.2fx\n", k, x, k / x }'
