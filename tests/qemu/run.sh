#!/usr/bin/env bash
# Peer test against QEMU's ATAPI emulation under a real Linux kernel (TCG).
#
# Boots Debian's generic kernel with a busybox initramfs holding a static mtkflash, with
# QEMU's ide-cd on the secondary master (classic port 3), and checks, first through raw
# ports with no ATA driver loaded and then through /dev/sg0 with ata_piix/sr_mod/sg:
# info reports QEMU's identity; the vendor intro is refused and mtkflash says this is not
# a MediaTek drive (exit 4) and writes nothing; write attempts leave medium and device
# untouched; non-root access gets the documented permission message.
# Then a second machine, q35 with QEMU's AHCI controller and the ahci driver: the same
# drive through libata's AHCI path, where QEMU's abort of the vendor command (status
# 0x41, error 0x04) runs libata's error handler (a REQUEST SENSE to the drive) and the
# registers come back in fixed-format sense; mtkflash must read status 0x41 from it.
#
# Then a 32-bit PC (qemu-system-i386, a Pentium III, Debian's 686 kernel) runs the static
# 32-bit mtkflash against the secondary master through raw ports.
#
# Prints `qemu: N passed, M failed`; exits non-zero on failures. Skips with a message
# (exit 0) where it cannot run: no apt-get/qemu, no kernel package.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. dist/lib.sh
skip_name="qemu peer test"

if ! command -v qemu-system-x86_64 >/dev/null || ! command -v busybox >/dev/null || ! command -v cpio >/dev/null; then
    command -v apt-get >/dev/null || skip "no qemu-system-x86_64 and no apt-get to install it"
    apt_install qemu-system-x86 busybox-static cpio || skip "could not install qemu-system-x86 busybox-static cpio"
fi
busybox_bin=$(command -v busybox)

# The kernel: the package linux-image-amd64 depends on (the generic kernel: the cloud
# one has no AHCI driver), unpacked, not installed.
kpkg=$(kernel_package linux-image-amd64)
[ -n "$kpkg" ] || skip "no linux-image-amd64 in the package lists"
(cd "$work" && apt-get download -qq "$kpkg" >/dev/null 2>&1) || skip "could not download $kpkg"
dpkg-deb -x "$work"/"$kpkg"_*.deb "$work/k" || skip "could not unpack $kpkg"
vmlinuz=$(ls "$work"/k/boot/vmlinuz-* | head -1)
moddir=$(ls -d "$work"/k/lib/modules/* | head -1)

# The static mtkflash a user downloads (README, "Install").
echo "building the static mtkflash (x86_64-unknown-linux-musl)..."
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1
cargo build --release --quiet --target x86_64-unknown-linux-musl \
    || { echo "qemu: 0 passed, 1 failed (static build)"; exit 1; }
bin=target/x86_64-unknown-linux-musl/release/mtkflash

# The medium: a small ISO-sized file whose checksum must survive.
head -c 2097152 /dev/urandom > "$work/test.iso"
iso_md5=$(md5sum "$work/test.iso" | cut -d' ' -f1)

# The initramfs.
ir="$work/initramfs"
mkdir -p "$ir"/{bin,dev,proc,sys,tmp,mod}
cp "$busybox_bin" "$ir/bin/busybox"
for a in sh mount insmod md5sum su cat grep echo ls poweroff sleep sed; do ln -s busybox "$ir/bin/$a"; done
mkdir -p "$ir/etc"
printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$ir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$ir/etc/group"
cp "$bin" "$ir/bin/mtkflash"
cp fixtures/btc-ide1008-0758.bin "$ir/fw.bin"
for m in scsi_common scsi_mod libata ata_piix libahci ahci cdrom sr_mod sg; do
    f=$(find "$moddir" -name "$m.ko" | head -1)
    [ -n "$f" ] || skip "module $m.ko not in $kpkg"
    cp "$f" "$ir/mod/"
done
cat > "$ir/init" <<GUEST
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
M=/bin/mtkflash
t() { # name, wanted exit code, text the output must contain, command...
    name=\$1; want=\$2; text=\$3; shift 3
    out=\$("\$@" 2>&1); code=\$?
    if [ "\$code" = "\$want" ] && echo "\$out" | grep -q -- "\$text"; then echo "QEMU-TEST PASS \$name"
    else echo "QEMU-TEST FAIL \$name (exit \$code, wanted \$want and '\$text')"; echo "\$out" | sed 's/^/    | /'; fi
}
only3() { # name: scan lists legacy port 3 and no other
    n=\$(\$M scan 2>&1 | grep -c "legacy port")
    if [ "\$n" = 1 ] && \$M scan 2>&1 | grep -q "^ *1\. 3 "; then echo "QEMU-TEST PASS \$1"
    else echo "QEMU-TEST FAIL \$1 (\$n legacy ports listed)"; \$M scan 2>&1 | sed 's/^/    | /'; fi
}
nobody() { su nobody -s /bin/sh -c "\$*"; }
echo "QEMU-TEST BEGIN"
show() { echo "QEMU-SHOW \$ \$*"; "\$@" > /tmp/show.out 2>&1; c=\$?; sed 's/^/QEMU-SHOW /' /tmp/show.out; echo "QEMU-SHOW (exit \$c)"; }
if grep -q mtkmachine=q35 /proc/cmdline; then
    # q35: QEMU's ICH9 AHCI, the ahci driver; no legacy task-file ports at all.
    for m in scsi_common scsi_mod libata libahci ahci cdrom sr_mod sg; do insmod /mod/\$m.ko; done
    sleep 3
    show \$M info /dev/sg0
    t q35-info-identity 4 "INQUIRY:   \[QEMU\]\[QEMU DVD-ROM\]" \$M info /dev/sg0
    t q35-identify-through-ahci 4 "IDENTIFY:  QEMU DVD-ROM" \$M info /dev/sg0
    t q35-intro-status-from-fixed-sense 4 "status 0x41" \$M info /dev/sg0
    t q35-vendor-write-refused 4 "not a MediaTek drive" \$M write /dev/sg0 /fw.bin --method vendor --no-backup
    t q35-vendor-untouched 4 "drive: not touched" \$M write /dev/sg0 /fw.bin --method vendor --no-backup
    t q35-btc-forced-refused 4 "does not speak the BTC update protocol" \$M write /dev/sg0 /fw.bin --force
    t q35-raw-ports-absent 4 "nothing answers" \$M info 3 --force
    t q35-scan 0 "/dev/sg0" \$M scan
    sum=\$(md5sum /dev/sr0 | cut -d' ' -f1)
    if [ "\$sum" = "$iso_md5" ]; then echo "QEMU-TEST PASS q35-medium-untouched"; else echo "QEMU-TEST FAIL q35-medium-untouched (\$sum)"; fi
    echo "QEMU-SHOW libata said:"; dmesg | grep -iE "ata[0-9]|reset|qc timeout|exception" | tail -8 | sed 's/^/QEMU-SHOW /'
    echo "QEMU-TEST END"
    poweroff -f
fi
if grep -q mtkmachine=i386 /proc/cmdline; then
    # A 32-bit PC (a Pentium III: Debian's 686 kernel) and the static 32-bit mtkflash
    # (i586: no SSE2): raw ports only.
    t i386-info-identity 4 "QEMU DVD-ROM" \$M info 3
    t i386-info-not-mediatek 4 "not a MediaTek drive" \$M info 3
    t i386-write-refused 4 "drive: not touched" \$M 3 w /m /fw.bin
    t i386-version 0 "i586-unknown-linux-gnu" \$M --version
    t i386-scan 0 "QEMU QEMU DVD-ROM" \$M scan
    only3 i386-scan-empty-positions
    for m in scsi_common scsi_mod cdrom sr_mod libata ata_piix; do insmod /mod/\$m.ko; done
    sleep 2
    sum=\$(md5sum /dev/sr0 | cut -d' ' -f1)
    if [ "\$sum" = "$iso_md5" ]; then echo "QEMU-TEST PASS i386-medium-untouched"; else echo "QEMU-TEST FAIL i386-medium-untouched (\$sum)"; fi
    echo "QEMU-TEST END"
    poweroff -f
fi
show \$M info 3
# Phase A: raw ports, no ATA driver.
t raw-info-identity 4 "QEMU DVD-ROM" \$M info 3
t raw-info-not-mediatek 4 "not a MediaTek drive" \$M info 3
t raw-write-refused 4 "drive: not touched" \$M 3 w /m /fw.bin
if ls /fw.backup*.bin >/dev/null 2>&1; then echo "QEMU-TEST FAIL raw-write-no-backup"; else echo "QEMU-TEST PASS raw-write-no-backup"; fi
t raw-device-intact 4 "QEMU QEMU DVD-ROM" \$M info 3
t raw-nonroot 4 "needs root" nobody \$M info 3
t raw-scan 0 "QEMU QEMU DVD-ROM" \$M scan
# The empty positions (QEMU reads status 0x00 there) are not misflashed drives.
only3 raw-scan-empty-positions
t raw-empty-primary 4 "intro failed on port 0x1F0 master (status 0x00)" \$M info 1
t raw-empty-slave 4 "drive: not touched" \$M 4 w /m /fw.bin
# Phase B: the kernel's ATA and SCSI drivers own the drive.
for m in scsi_common scsi_mod libata ata_piix cdrom sr_mod sg; do insmod /mod/\$m.ko; done
sleep 2
show \$M info /dev/sg0
t sg-port-owned 4 "ata_piix owns ports" \$M info 3
t sg-info-identity 4 "INQUIRY:   \[QEMU\]\[QEMU DVD-ROM\]" \$M info /dev/sg0
t sg-info-not-mediatek 4 "not a MediaTek drive" \$M info /dev/sg0
t sg-write-model-refused 6 "drive: not touched" \$M write /dev/sg0 /fw.bin
t sg-write-forced-refused 4 "does not speak the BTC update protocol" \$M write /dev/sg0 /fw.bin --force
t sg-vendor-write-refused 4 "not a MediaTek drive" \$M write /dev/sg0 /fw.bin --method vendor
t sg-intro-status-from-fixed-sense 4 "status 0x41" \$M info /dev/sg0
t sg-nonroot 4 "permission denied" nobody \$M info /dev/sg0
t sg-scan 0 "/dev/sg0" \$M scan
sum=\$(md5sum /dev/sr0 | cut -d' ' -f1)
if [ "\$sum" = "$iso_md5" ]; then echo "QEMU-TEST PASS medium-untouched"; else echo "QEMU-TEST FAIL medium-untouched (\$sum)"; fi
echo "QEMU-TEST END"
poweroff -f
GUEST
chmod +x "$ir/init"
(cd "$ir" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd.gz"

# The 32-bit guest: Debian's 686 kernel and 32-bit busybox (packages of the i386
# architecture, downloaded and unpacked), the same init, the static 32-bit mtkflash.
i386_why=""
i386_ready() {
    add_i386 || { i386_why="could not add the i386 architecture to apt"; return 1; }
    k32=$(kernel_package linux-image-686:i386)
    [ -n "$k32" ] || { i386_why="no linux-image-686:i386 in the package lists"; return 1; }
    mkdir -p "$work/i386"
    (cd "$work/i386" && apt-get download -qq "$k32" busybox-static:i386 >/dev/null 2>&1) \
        || { i386_why="could not download $k32 and busybox-static:i386"; return 1; }
    for d in "$work"/i386/*.deb; do
        dpkg-deb -x "$d" "$work/i386/x" || { i386_why="could not unpack $d"; return 1; }
    done
    return 0
}
i386_built=1
rustup target add i586-unknown-linux-gnu >/dev/null 2>&1
cargo build --release --quiet --target i586-unknown-linux-gnu || { i386_built=0; i386_why="the 32-bit build failed"; }
if [ "$i386_built" = 1 ] && i386_ready; then
    vmlinuz32=$(ls "$work"/i386/x/boot/vmlinuz-* | head -1)
    moddir32=$(ls -d "$work"/i386/x/lib/modules/* | head -1)
    ir32="$work/initramfs32"
    cp -a "$ir" "$ir32"
    rm -f "$ir32"/mod/*.ko
    cp "$work/i386/x/bin/busybox" "$ir32/bin/busybox"
    cp target/i586-unknown-linux-gnu/release/mtkflash "$ir32/bin/mtkflash"
    for m in scsi_common scsi_mod libata ata_piix cdrom sr_mod; do
        f=$(find "$moddir32" -name "$m.ko" | head -1)
        [ -n "$f" ] && cp "$f" "$ir32/mod/$m.ko"
    done
    (cd "$ir32" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd32.gz"
fi

boot() { # machine, cd bus, kernel option, log
    local qemu=qemu-system-x86_64 cpu=qemu64 kernel="$vmlinuz" initrd="$work/initrd.gz" machine="$1"
    if [ "$1" = i386 ]; then
        qemu=qemu-system-i386 cpu=pentium3 kernel="$vmlinuz32" initrd="$work/initrd32.gz" machine=pc
    fi
    timeout 300 "$qemu" -M "$machine" -accel tcg,thread=single -cpu "$cpu" -m 256 -smp 1 \
        -nographic -no-reboot -net none -kernel "$kernel" -initrd "$initrd" \
        -append "console=ttyS0 panic=-1 quiet loglevel=3 $3" \
        -drive if=none,id=cd,media=cdrom,readonly=on,format=raw,file="$work/test.iso" \
        -device ide-cd,drive=cd,bus="$2",unit=0 > "$4" 2>&1
}
pass=0
fail=0
machines=("pc ide.1 mtkmachine=pc 20" "q35 ide.2 mtkmachine=q35 9")
if [ "$i386_built" = 0 ]; then
    echo "qemu: the 32-bit build failed (gcc-multilib installed?)"
    fail_build=1
fi
if [ -z "$i386_why" ]; then
    machines+=("i386 ide.1 mtkmachine=i386 7")
else
    echo "qemu -M pc with a 32-bit kernel: SKIPPED ($i386_why)"
fi
[ "${fail_build:-0}" = 1 ] && fail=$((fail + 1))
for m in "${machines[@]}"; do
    set -- $m
    log="$work/serial-$1.log"
    echo "booting QEMU -M $1 (TCG)..."
    t0=$(date +%s)
    boot "$1" "$2" "$3" "$log"
    grep -a "QEMU-TEST\|QEMU-SHOW\|    |" "$log" | tr -d '\r'
    p=$(grep -ac "QEMU-TEST PASS" "$log")
    f=$(grep -ac "QEMU-TEST FAIL" "$log")
    if ! grep -aq "QEMU-TEST END" "$log"; then
        echo "the $1 guest did not finish; last lines:"; tail -20 "$log" | tr -d '\r'
    fi
    [ "$p" -eq "$4" ] || f=$((f + $4 - p))
    echo "qemu -M $1: $p passed, $f failed, $(( $(date +%s) - t0 )) s"
    pass=$((pass + p))
    fail=$((fail + f))
done
echo "qemu: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
