#!/usr/bin/env bash
# Peer test against QEMU's ATAPI emulation under a real Linux kernel (TCG).
#
# Boots Debian's cloud kernel with a busybox initramfs holding a static mtkflash, with
# QEMU's ide-cd on the secondary master (classic port 3), and checks, first through raw
# ports with no ATA driver loaded and then through /dev/sg0 with ata_piix/sr_mod/sg:
# info reports QEMU's identity; the vendor intro is refused and mtkflash says this is not
# a MediaTek drive (exit 4) and writes nothing; write attempts leave medium and device
# untouched; non-root access gets the documented permission message.
#
# Prints `qemu: N passed, M failed`; exits non-zero on failures. Skips with a message
# (exit 0) where it cannot run: no apt-get/qemu, no kernel package.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
skip() { echo "qemu peer test: SKIPPED ($*)"; exit 0; }

if ! command -v qemu-system-x86_64 >/dev/null || ! command -v busybox >/dev/null || ! command -v cpio >/dev/null; then
    command -v apt-get >/dev/null || skip "no qemu-system-x86_64 and no apt-get to install it"
    (apt-get update -qq && apt-get install -y -qq --no-install-recommends qemu-system-x86 busybox-static cpio) >/dev/null 2>&1 \
        || skip "could not install qemu-system-x86 busybox-static cpio"
fi
busybox_bin=$(command -v busybox)
file "$busybox_bin" 2>/dev/null | grep -q "statically linked" || [ -x /bin/busybox ] || true

# The kernel: the package linux-image-cloud-amd64 depends on, unpacked, not installed.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
[ -n "$kpkg" ] || { apt-get update -qq >/dev/null 2>&1; kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'); }
[ -n "$kpkg" ] || skip "no linux-image-cloud-amd64 in the package lists"
(cd "$work" && apt-get download -qq "$kpkg" >/dev/null 2>&1) || skip "could not download $kpkg"
dpkg-deb -x "$work"/"$kpkg"_*.deb "$work/k" || skip "could not unpack $kpkg"
vmlinuz=$(ls "$work"/k/boot/vmlinuz-* | head -1)
moddir=$(ls -d "$work"/k/lib/modules/* | head -1)

# A static mtkflash.
echo "building a static mtkflash..."
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --quiet --target x86_64-unknown-linux-gnu --target-dir target/static \
    || { echo "qemu: 0 passed, 1 failed (static build)"; exit 1; }
bin=target/static/x86_64-unknown-linux-gnu/release/mtkflash

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
for m in scsi_common scsi_mod libata ata_piix cdrom sr_mod sg; do
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
nobody() { su nobody -s /bin/sh -c "\$*"; }
echo "QEMU-TEST BEGIN"
show() { echo "QEMU-SHOW \$ \$*"; "\$@" > /tmp/show.out 2>&1; c=\$?; sed 's/^/QEMU-SHOW /' /tmp/show.out; echo "QEMU-SHOW (exit \$c)"; }
show \$M info 3
# Phase A: raw ports, no ATA driver.
t raw-info-identity 4 "QEMU DVD-ROM" \$M info 3
t raw-info-not-mediatek 4 "not a MediaTek drive" \$M info 3
t raw-write-refused 4 "drive: not touched" \$M 3 w /m /fw.bin
if ls /fw.backup*.bin >/dev/null 2>&1; then echo "QEMU-TEST FAIL raw-write-no-backup"; else echo "QEMU-TEST PASS raw-write-no-backup"; fi
t raw-device-intact 4 "QEMU QEMU DVD-ROM" \$M info 3
t raw-nonroot 4 "needs root" nobody \$M info 3
t raw-scan 0 "QEMU QEMU DVD-ROM" \$M scan
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
t sg-nonroot 4 "permission denied" nobody \$M info /dev/sg0
t sg-scan 0 "/dev/sg0" \$M scan
sum=\$(md5sum /dev/sr0 | cut -d' ' -f1)
if [ "\$sum" = "$iso_md5" ]; then echo "QEMU-TEST PASS medium-untouched"; else echo "QEMU-TEST FAIL medium-untouched (\$sum)"; fi
echo "QEMU-TEST END"
poweroff -f
GUEST
chmod +x "$ir/init"
(cd "$ir" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd.gz"

echo "booting QEMU (TCG)..."
timeout 300 qemu-system-x86_64 -M pc -accel tcg,thread=single -cpu qemu64 -m 256 -smp 1 \
    -nographic -no-reboot -net none -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
    -append 'console=ttyS0 panic=-1 quiet loglevel=3' \
    -drive if=none,id=cd,media=cdrom,readonly=on,format=raw,file="$work/test.iso" \
    -device ide-cd,drive=cd,bus=ide.1,unit=0 > "$work/serial.log" 2>&1
grep -a "QEMU-TEST\|QEMU-SHOW\|    |" "$work/serial.log" | tr -d '\r'
pass=$(grep -ac "QEMU-TEST PASS" "$work/serial.log")
fail=$(grep -ac "QEMU-TEST FAIL" "$work/serial.log")
expected=16
if ! grep -aq "QEMU-TEST END" "$work/serial.log"; then
    echo "the guest did not finish; last lines:"; tail -20 "$work/serial.log" | tr -d '\r'
    fail=$((fail + expected - pass - fail))
fi
echo "qemu: $pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -eq "$expected" ]
