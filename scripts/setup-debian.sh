#!/usr/bin/env bash
# Install everything kiln needs on a Debian 12 host (run as root or with sudo available).
# Rust itself comes from rustup (Debian 12's rustc is too old): https://rustup.rs
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
PKGS=(
  # build
  build-essential pkg-config clang libclang-dev git curl ca-certificates libsolv-dev libsolvext-dev libsolv-tools dnf
  # kickstart reference tools (pykickstart from PyPI into a venv) and test helpers
  python3 python3-venv python3-pip
  # image reference tools: unsquashfs/mksquashfs, mkfs.erofs/fsck.erofs/dump.erofs, getfattr/setfattr, xorriso, isoinfo, checkisomd5, mtools, fsck.fat, sgdisk
  squashfs-tools erofs-utils attr xorriso genisoimage isomd5sum mtools dosfstools gdisk libarchive-tools
  # installer tests: rpm's own tools as oracles, setcap/getcap, passwd tools (useradd/pwck)
  rpm cpio libcap2-bin passwd openssl e2fsprogs
  # boot tests: qemu (TCG), SeaBIOS, OVMF
  qemu-system-x86 qemu-utils ovmf seabios
  # aarch64 media on this host (step 7): qemu-user for the target's scriptlets, %post, dracut
  # and grub-mkimage (binfmt-support registers it with the F flag; kiln registers its own
  # entry when nothing has), qemu-system-aarch64 and AAVMF for the boot test
  qemu-user-static binfmt-support qemu-system-arm qemu-efi-aarch64
  # ppc64le, s390x and riscv64 media (step 16): qemu-system-ppc (pseries + SLOF), qemu-system-misc
  # (s390-ccw-virtio with its s390-ccw bios, riscv64 virt with OpenSBI); u-boot-qemu's riscv64
  # U-Boot boots the ISO's EFI loader when no riscv64 EDK2 is installed
  qemu-system-ppc qemu-system-misc u-boot-qemu
  # rootless builds (step 17): newuidmap/newgidmap map the user's subordinate ids into kiln's
  # user namespace; setpriv (util-linux) runs the rootless tests as an ordinary user
  uidmap util-linux
  # boot loader bits the ISO writer tests use from the host (the live builds use the root's own)
  grub-common grub-pc-bin grub-efi-amd64-bin isolinux syslinux-common
  # network boot and disk outputs (kiln build --make-pxe-live/--make-netroot/--make-disk/--make-tar,
  # iso-to-pxeboot, iso-to-netroot, boot-test of their trees): pxelinux.0, nbd-server, zstd for tar
  pxelinux nbd-server zstd
  # dracut's lsinitrd and skipcpio read the live initramfs (--dracut-arg/--dracut-conf tests);
  # dracut-core only: the `dracut` package would replace the host's initramfs-tools
  dracut-core
  # SELinux labels (tests/selinux_labels.rs): libselinux's selabel_lookup (libselinux1, through
  # python3's ctypes) and setfiles as oracles, semodule to compile Debian's policy package
  policycoreutils selinux-utils libselinux1
  # Secure Boot tests (boot-test --secure-boot; OVMF's secboot build is in ovmf): sbverify
  sbsigntool
  # EROFS (step 13): mkfs.erofs is the benchmark peer; fsck.erofs --extract and dump.erofs are
  # the writer's oracles beside the kernel's own erofs mount
  erofs-utils
  # A real Koji on this host (koji/farm/up.sh, step 15): PostgreSQL 15, Apache httpd (the binary
  # and modules only: apache2-bin starts no system instance) with mod_wsgi for the hub, and the
  # Python modules Koji's hub, kojid and CLI import (requirements.txt, koji.spec); kojid's
  # python-multilib is PyPI's, put into a venv by up.sh. ss (iproute2) picks free ports.
  postgresql-15 apache2-bin media-types libapache2-mod-wsgi-py3 python3-psycopg2 python3-requests
  python3-dateutil python3-six python3-defusedxml python3-rpm python3-librepo python3-dnf
  python3-cheetah python3-libcomps createrepo-c iproute2
)
# Packages the fixture repositories need (step 2), when that script exists.
if [ -f "$(dirname "$0")/../fixtures/install-deps.sh" ]; then
  # shellcheck disable=SC1091
  mapfile -t EXTRA < <(bash "$(dirname "$0")/../fixtures/install-deps.sh" --list)
  PKGS+=("${EXTRA[@]}")
fi
# No `producer | grep -q` under pipefail: grep's early exit can make the producer die of
# SIGPIPE, and the pipeline then reads as "not found" (a run as an ordinary user tried sudo).
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
missing=()
for p in "${PKGS[@]}"; do
  installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# An install can remove a package that was there (a backports qemu-utils conflicts with
# Debian 12's qemu-system-common): whatever is gone now comes back in the matching version.
again=()
for p in "${PKGS[@]}"; do
  installed "$p" || again+=("$p")
done
if [ ${#again[@]} -gt 0 ]; then
  echo "setup-debian: reinstalling what the first install removed: ${again[*]}"
  $SUDO apt-get install -y -qq --no-install-recommends "${again[@]}"
fi
# The foreign live fixture sets download Debian 12's arm64, ppc64el and s390x packages.
added=0
foreign=$(dpkg --print-foreign-architectures)
for a in arm64 ppc64el s390x; do
  if ! grep -qx "$a" <<<"$foreign"; then
    $SUDO dpkg --add-architecture "$a"
    added=1
  fi
done
if [ "$added" = 1 ]; then $SUDO apt-get update -qq; fi
# One-time root setup for rootless builds (README, "Rootless builds"):
# - aarch64 code through qemu-user needs a binfmt_misc registration with the F flag, which only
#   root can make: binfmt-support's own entry, as its postinst makes it where binfmt_misc is
#   mounted (containers often lack it). Only aarch64's: the other foreign arches' tests check
#   the registration a root kiln makes and removes itself.
# - the user who ran this through sudo gets subordinate ids (if useradd gave none) and owns the
#   shared caches, so `fixtures/build-repos` and `scripts/test.sh` run as that user.
if [ -d /proc/sys/fs/binfmt_misc ] && command -v update-binfmts >/dev/null; then
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
  fi
  if [ -e /proc/sys/fs/binfmt_misc/register ] && ! grep -qs '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64; then
    $SUDO update-binfmts --enable qemu-aarch64 || echo "setup-debian: could not register qemu-aarch64 with binfmt_misc" >&2
  fi
fi
user=${SUDO_USER:-}
if [ -n "$user" ] && [ "$user" != root ]; then
  for f in subuid subgid; do
    if ! grep -qs "^$user:" /etc/$f; then
      # Debian's useradd gives every new user a range; an older account may have none.
      start=$((100000 + 65536 * $(id -u "$user")))
      $SUDO usermod "--add-${f}s" "$start-$((start + 65535))" "$user"
    fi
  done
  for d in /var/cache/kiln /var/cache/kiln-fixtures; do
    $SUDO install -d -o "$user" -g "$(id -gn "$user")" "$d"
  done
fi
if ! command -v cargo >/dev/null; then
  echo "error: cargo not found. Install Rust (>= 1.85) with rustup: https://rustup.rs" >&2
  exit 2
fi
echo "setup-debian: all system packages present"
