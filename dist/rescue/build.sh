#!/usr/bin/env bash
# The rescue image: a hybrid ISO that boots from a CD or a USB stick on a BIOS PC (every
# PC that still has IDE ports; a 64-bit PC boots it too) into a shell with mtkflash, in
# place of the DOS boot floppy. Made from Debian packages this script downloads (the
# 686 kernel, which runs on every PC from the Pentium Pro on, and busybox), the static
# 32-bit mtkflash (target/dist, built when missing), and its man page.
#
#   bash dist/rescue/build.sh [OUT.iso]      (default target/rescue/mtkflash-rescue.iso)
#
# At boot it loads the USB and file-system drivers only, mounts every FAT, ext and ISO
# volume it finds read-only under /media, and leaves the IDE/SATA channels without a
# kernel driver, so `mtkflash 3 w /m /media/sdb1/fw.bin` works at once. `ata-drivers`
# loads them when wanted (for /dev/sgN). mtkflash on the image is a wrapper that makes
# the volume holding the firmware writable for the backup and read-only again after.
#
# Needs (installed with apt-get when missing): grub-pc-bin, grub-common, xorriso,
# mtools, cpio, and the i386 architecture in apt for the packages.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
cd "$(dirname "$0")/../.."
root=$(pwd)
out=${1:-target/rescue/mtkflash-rescue.iso}
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)

need() { # command, package
    command -v "$1" >/dev/null 2>&1 && return 0
    apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1; } \
        || { echo "rescue: could not install $2"; exit 1; }
}
need grub-mkrescue grub-common
[ -d /usr/lib/grub/i386-pc ] || need grub-bios-setup grub-pc-bin
[ -d /usr/lib/grub/i386-pc ] || { echo "rescue: grub-pc-bin has no i386-pc modules"; exit 1; }
need xorriso xorriso
need mformat mtools
need cpio cpio

# The packages: Debian's 686 kernel and 32-bit busybox (downloaded and unpacked only).
dpkg --print-foreign-architectures | grep -qx i386 \
    || { dpkg --add-architecture i386 && apt-get update -qq; } >/dev/null 2>&1 \
    || { echo "rescue: could not add the i386 architecture to apt"; exit 1; }
kpkg=$({ apt-cache depends linux-image-686:i386 2>/dev/null || true; } | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || { echo "rescue: no linux-image-686:i386 in the package lists"; exit 1; }
(cd "$work" && apt-get download -qq "$kpkg" busybox-static:i386 >/dev/null 2>&1) \
    || { echo "rescue: could not download $kpkg busybox-static:i386"; exit 1; }
for d in "$work"/*.deb; do dpkg-deb -x "$d" "$work/x"; done
vmlinuz=$(ls "$work"/x/boot/vmlinuz-* | head -1)
moddir=$(ls -d "$work"/x/lib/modules/* | head -1)
# (The package leaves modules.dep to depmod at install time.)
need depmod kmod
depmod -b "$work/x" "$(basename "$moddir")" || { echo "rescue: depmod failed"; exit 1; }

# mtkflash: the static 32-bit release binary.
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
bin="target/dist/mtkflash-$version-i586-linux"
if [ ! -x "$bin" ]; then
    rustup target add i586-unknown-linux-gnu >/dev/null 2>&1 || true
    cargo build --release --quiet --target i586-unknown-linux-gnu
    bin=target/i586-unknown-linux-gnu/release/mtkflash
fi

# The initramfs.
ir="$work/ir"
mkdir -p "$ir"/{bin,dev,proc,sys,tmp,media,etc,lib/modules,usr/share/man/man1}
cp "$work/x/bin/busybox" "$ir/bin/busybox"
for a in $("$ir/bin/busybox" --list 2>/dev/null || true); do
    [ "$a" = busybox ] || ln -sf busybox "$ir/bin/$a"
done
# (busybox --list needs to run here: an i386 busybox runs on an x86_64 kernel; if it
# cannot, the applets the scripts use.)
for a in sh mount umount insmod modprobe blkid sync ls cat grep sed awk sleep poweroff reboot \
    mkdir dmesg more less man md5sum df stat cp mv rm setsid cttyhack clear dirname basename; do
    [ -e "$ir/bin/$a" ] || ln -s busybox "$ir/bin/$a"
done
cp "$bin" "$ir/bin/mtkflash.real"
# (busybox man shows a preformatted page from /usr/man/cat1 with its pager; nroff
# where the build machine has it, else the --help text.)
mkdir -p "$ir/usr/man/cat1"
if command -v nroff >/dev/null && command -v col >/dev/null; then
    "$bin" man | nroff -man 2>/dev/null | col -bx > "$ir/usr/man/cat1/mtkflash.1"
fi
[ -s "$ir/usr/man/cat1/mtkflash.1" ] || "$bin" --help > "$ir/usr/man/cat1/mtkflash.1"
"$bin" man > "$ir/usr/share/man/man1/mtkflash.1"

# Modules with what they depend on, in load order (modules.dep), as lists for the init.
declare -A seen=()
order=()
add_mod() { # name
    local line path deps d
    line=$(grep -E "(^|/)$1\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | head -1) || return 0
    path=${line%%:*}
    [ -n "${seen[$path]:-}" ] && return 0
    seen[$path]=1
    deps=${line#*:}
    for d in $deps; do
        d=$(basename "$d")
        add_mod "${d%%.ko*}"
    done
    order+=("$path")
}
mods_list() { # file, modules...
    local f=$1
    shift
    order=()
    for m in "$@"; do add_mod "$m"; done
    : > "$ir/etc/$f"
    for p in "${order[@]}"; do
        mkdir -p "$ir/lib/modules/$(dirname "$p")"
        cp "$moddir/$p" "$ir/lib/modules/$p"
        echo "/lib/modules/$p" >> "$ir/etc/$f"
    done
}
mods_list modules.boot usb-common usbcore ehci-hcd ehci-pci ohci-hcd ohci-pci uhci-hcd \
    xhci-hcd xhci-pci usb-storage uas sd_mod vfat nls_cp437 nls_ascii nls_iso8859-1 nls_utf8 isofs ext4 crc32c_generic
seen=()
mods_list modules.ata libata ata_piix ata_generic pata_acpi ahci cdrom sr_mod sg
[ -s "$ir/etc/modules.boot" ] || { echo "rescue: no modules found in $kpkg"; exit 1; }

cp "$root/dist/rescue/init" "$ir/init"
cp "$root/dist/rescue/mtkflash" "$ir/bin/mtkflash"
cp "$root/dist/rescue/ata-drivers" "$ir/bin/ata-drivers"
cp "$root/dist/rescue/mount-media" "$ir/bin/mount-media"
cp "$root/dist/rescue/welcome.txt" "$ir/etc/welcome.txt"
chmod +x "$ir/init" "$ir/bin/mtkflash" "$ir/bin/ata-drivers" "$ir/bin/mount-media"
(cd "$ir" && find . | cpio -o -H newc 2>/dev/null | gzip -9) > "$work/initrd.gz"

# The ISO: GRUB for BIOS (El Torito for CDs, an MBR for sticks: grub-mkrescue's hybrid).
iso="$work/iso"
mkdir -p "$iso/boot/grub"
cp "$vmlinuz" "$iso/boot/vmlinuz"
cp "$work/initrd.gz" "$iso/boot/initrd.gz"
cat > "$iso/boot/grub/grub.cfg" <<'GRUB'
set timeout=3
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
menuentry "mtkflash rescue" {
    linux /boot/vmlinuz console=tty0 console=ttyS0,115200 quiet loglevel=3
    initrd /boot/initrd.gz
}
GRUB
grub-mkrescue --directory=/usr/lib/grub/i386-pc -o "$out" "$iso" -- -volid MTKFLASH >/dev/null 2>&1 \
    || { echo "rescue: grub-mkrescue failed"; exit 1; }
echo "rescue image: $out, $(( $(stat -c %s "$out") / 1024 )) KiB ($kpkg, $(wc -l < "$ir/etc/modules.boot") boot modules), built in $(( $(date +%s) - t0 )) s"
