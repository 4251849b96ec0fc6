#!/usr/bin/env bash
# The rescue image: a hybrid ISO that boots from a CD or a USB stick into a shell with
# mtkflash, in place of the DOS boot floppy. BIOS PCs (every PC that still has IDE
# ports) boot Debian's 686 kernel, which runs on every PC from the Pentium Pro on; UEFI
# PCs boot Debian's amd64 kernel (Secure Boot off: the loader is not signed). Both run
# the same busybox and static 32-bit mtkflash. Made from Debian packages this script
# downloads, the static 32-bit mtkflash (target/dist, built when missing), and its man
# page. A small FAT partition at the end (label MTKFLASH) takes the firmware files and
# the backups on the stick the image was written to.
#
#   bash dist/rescue/build.sh [OUT.iso]      (default target/rescue/mtkflash-rescue.iso)
#
# At boot it loads the USB and file-system drivers only, mounts every FAT, ext and ISO
# volume it finds read-only under /media, and leaves the IDE/SATA channels without a
# kernel driver, so `mtkflash 3 w /m /media/sdb1/fw.bin` works at once. `ata-drivers`
# loads them when wanted (for /dev/sgN). mtkflash on the image is a wrapper that makes
# the volume holding the firmware writable for the backup and read-only again after.
#
# Needs (installed with apt-get when missing): grub-pc-bin, grub-efi-amd64-bin,
# grub-common, xorriso, mtools, cpio, and the i386 architecture in apt for the packages.
# Without grub-efi-amd64-bin (not every distribution has it) the image boots on BIOS
# only, and says so.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
cd "$(dirname "$0")/../.."
root=$(pwd)
out=${1:-target/rescue/mtkflash-rescue.iso}
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)

. dist/lib.sh
need() { # command, package
    command -v "$1" >/dev/null 2>&1 || apt_install "$2" || { echo "rescue: could not install $2"; exit 1; }
}
need grub-mkrescue grub-common
# (The GRUB platforms are folders of modules, not commands.)
[ -d /usr/lib/grub/i386-pc ] || apt_install grub-pc-bin
[ -d /usr/lib/grub/i386-pc ] || { echo "rescue: could not install grub-pc-bin (GRUB for BIOS)"; exit 1; }
[ -d /usr/lib/grub/x86_64-efi ] || apt_install grub-efi-amd64-bin || true
efi=0
[ -d /usr/lib/grub/x86_64-efi ] && efi=1
[ $efi = 1 ] || echo "rescue: no grub-efi-amd64-bin: the image boots on BIOS PCs only"
need xorriso xorriso
need mformat mtools
need cpio cpio

# The packages: Debian's 686 kernel (BIOS), its amd64 kernel (UEFI) and 32-bit busybox
# (downloaded and unpacked only).
add_i386 || { echo "rescue: could not add the i386 architecture to apt"; exit 1; }
kpkg=$(kernel_package linux-image-686:i386)
[ -n "$kpkg" ] || { echo "rescue: no linux-image-686:i386 in the package lists"; exit 1; }
pkgs=("$kpkg" busybox-static:i386)
if [ $efi = 1 ]; then
    kpkg64=$(kernel_package linux-image-amd64:amd64)
    [ -n "$kpkg64" ] || { echo "rescue: no linux-image-amd64 in the package lists"; exit 1; }
    pkgs+=("$kpkg64:amd64")
fi
mkdir -p "$work/deb"
(cd "$work/deb" && apt-get download -qq "${pkgs[@]}" >/dev/null 2>&1) \
    || { echo "rescue: could not download ${pkgs[*]}"; exit 1; }
need depmod kmod
unpack() { # package, folder: sets vmlinuz and moddir
    dpkg-deb -x "$work"/deb/"${1%%:*}"_*.deb "$2"
    vmlinuz=$(ls "$2"/boot/vmlinuz-* | head -1)
    moddir=$(ls -d "$2"/lib/modules/* | head -1)
    # (The package leaves modules.dep to depmod at install time.)
    depmod -b "$2" "$(basename "$moddir")" || { echo "rescue: depmod failed for $1"; exit 1; }
}
dpkg-deb -x "$work"/deb/busybox-static_*.deb "$work/bb"

# mtkflash: the static 32-bit release binary (dist/build.sh builds the same).
rustup target add i586-unknown-linux-gnu >/dev/null 2>&1 || true
cargo build --release --quiet --target i586-unknown-linux-gnu \
    || { echo "rescue: the 32-bit build failed (gcc-multilib installed?)"; exit 1; }
bin=target/i586-unknown-linux-gnu/release/mtkflash

# The initramfs: what both kernels share (busybox, mtkflash, the scripts), and one
# archive of modules for each kernel; GRUB loads the shared one and the kernel's one
# (the kernel unpacks them one after the other).
ir="$work/ir"
mkdir -p "$ir"/{bin,dev,proc,sys,tmp,media,etc,lib/modules,usr/share/man/man1}
cp "$work/bb/bin/busybox" "$ir/bin/busybox"
for a in $("$ir/bin/busybox" --list 2>/dev/null || true); do
    [ "$a" = busybox ] || ln -sf busybox "$ir/bin/$a"
done
# (busybox --list needs to run here: an i386 busybox runs on an x86_64 kernel; if it
# cannot, the applets the scripts use.)
for a in sh mount umount insmod modprobe blkid sync ls cat grep sed awk sleep poweroff reboot \
    mkdir rmdir dmesg more less man md5sum df stat cp mv rm setsid cttyhack clear dirname basename \
    tr readlink; do
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
cp "$root/dist/rescue/init" "$ir/init"
cp "$root/dist/rescue/mtkflash" "$ir/bin/mtkflash"
cp "$root/dist/rescue/ata-drivers" "$ir/bin/ata-drivers"
cp "$root/dist/rescue/mount-media" "$ir/bin/mount-media"
cp "$root/dist/rescue/welcome.txt" "$ir/etc/welcome.txt"
chmod +x "$ir/init" "$ir/bin/mtkflash" "$ir/bin/ata-drivers" "$ir/bin/mount-media"
(cd "$ir" && find . | cpio -o -H newc 2>/dev/null | gzip -9) > "$work/initrd.gz"

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
mods_list() { # archive folder, list file, modules...
    local m=$1 f=$2
    shift 2
    order=()
    seen=()
    for n in "$@"; do add_mod "$n"; done
    mkdir -p "$m/etc"
    : > "$m/etc/$f"
    for p in "${order[@]}"; do
        mkdir -p "$m/lib/modules/$(dirname "$p")"
        cp "$moddir/$p" "$m/lib/modules/$p"
        echo "/lib/modules/$p" >> "$m/etc/$f"
    done
}
modules() { # package, archive name
    local m="$work/mods-$2"
    unpack "$1" "$work/k-$2"
    mods_list "$m" modules.boot usb-common usbcore ehci-hcd ehci-pci ohci-hcd ohci-pci uhci-hcd \
        xhci-hcd xhci-pci usb-storage uas sd_mod vfat nls_cp437 nls_ascii nls_iso8859-1 nls_utf8 \
        isofs ext4 crc32c_generic
    mods_list "$m" modules.ata libata ata_piix ata_generic pata_acpi ahci cdrom sr_mod sg
    [ -s "$m/etc/modules.boot" ] || { echo "rescue: no modules found in $1"; exit 1; }
    (cd "$m" && find . | cpio -o -H newc 2>/dev/null | gzip -9) > "$work/$2.gz"
    boot_mods="$boot_mods $(wc -l < "$m/etc/modules.boot")"
}

# The ISO: GRUB for BIOS (El Torito for CDs, an MBR for sticks) and for UEFI (an EFI
# system partition image, El Torito for CDs): grub-mkrescue's hybrid.
iso="$work/iso"
mkdir -p "$iso/boot/grub"
boot_mods=""
modules "$kpkg" mods686
cp "$vmlinuz" "$iso/boot/vmlinuz686"
cp "$work/mods686.gz" "$iso/boot/"
platforms=(--directory=/usr/lib/grub/i386-pc)
if [ $efi = 1 ]; then
    modules "$kpkg64" mods64
    cp "$vmlinuz" "$iso/boot/vmlinuz64"
    cp "$work/mods64.gz" "$iso/boot/"
    # (grub-mkrescue takes one --directory; without it, every platform installed.)
    platforms=()
fi
cp "$work/initrd.gz" "$iso/boot/initrd.gz"
cat > "$iso/boot/grub/grub.cfg" <<'GRUB'
set timeout=3
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
if [ "$grub_platform" = "efi" ]; then
    set k=64
else
    set k=686
fi
menuentry "mtkflash rescue" {
    linux /boot/vmlinuz$k console=tty0 console=ttyS0,115200 quiet loglevel=3
    initrd /boot/initrd.gz /boot/mods$k.gz
}
GRUB

# The FAT partition for firmware files and backups, appended after the ISO (an ISO
# file system cannot be written to; a CD made from the image simply has no such
# partition). 12 MiB: a firmware file and a backup of a 2 MiB flash several times over.
data_mib=12
truncate -s "${data_mib}M" "$work/data.img"
mformat -i "$work/data.img" -v MTKFLASH -N 4d544b46 :: >/dev/null
cat > "$work/README.TXT" <<'TXT'
mtkflash rescue stick: put the firmware file (fw.bin) here. The rescue shell
finds it under /media (the welcome screen lists it) and writes the backup of
the drive's flash beside it.
TXT
sed -i 's/$/\r/' "$work/README.TXT"
mcopy -i "$work/data.img" "$work/README.TXT" ::README.TXT
# (No locales, fonts or themes: the menu is text, on the screen and the serial port.)
grub-mkrescue "${platforms[@]}" --locales= --fonts= --themes= --compress=xz \
    -o "$out" "$iso" -- -volid MTKFLASH_BOOT \
    -append_partition 3 0x0c "$work/data.img" >/dev/null 2>&1 \
    || { echo "rescue: grub-mkrescue failed"; exit 1; }
echo "rescue image: $out, $(( $(stat -c %s "$out") / 1024 )) KiB ($kpkg${kpkg64:+ and $kpkg64}; boot modules$boot_mods; FAT partition ${data_mib} MiB; BIOS$([ $efi = 1 ] && echo " and UEFI")), built in $(( $(date +%s) - t0 )) s"
