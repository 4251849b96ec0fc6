#!/usr/bin/env bash
# The rescue image under QEMU: dist/rescue/build.sh makes it, then two PCs boot it from
# a USB stick with QEMU's ide-cd on the secondary master:
#  - bios: a 32-bit PC (Pentium III, SeaBIOS, the 686 kernel); fw.bin is on the rescue
#    stick itself, in its FAT partition;
#  - uefi: a 64-bit PC with OVMF (Debian's ovmf package; the amd64 kernel); fw.bin is
#    on a second stick (FAT, no partition table).
# A scripted session on the serial console runs `mtkflash scan` and
# `mtkflash 3 w /m /media/.../fw.bin`: QEMU's drive is found on port 3 alone, refused
# as not MediaTek (exit 4, drive not touched), the medium is unchanged, the sticks are
# read-only again and hold no backup (nothing was read, so nothing was saved).
# Prints `rescue: N passed, M failed`, the image's size and the times.
set -uo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. dist/lib.sh
skip_name="rescue image test"
command -v qemu-system-i386 >/dev/null || {
    command -v apt-get >/dev/null || skip "no qemu-system-i386 and no apt-get"
    apt_install qemu-system-x86 || skip "could not install qemu-system-x86"
}
command -v mformat >/dev/null || apt_install mtools

t0=$(date +%s)
# (RESCUE_ISO: an image built already, as .ci/run's release step does.)
if [ -n "${RESCUE_ISO:-}" ]; then
    cp "$RESCUE_ISO" "$work/rescue.iso" || { echo "rescue: 0 passed, 1 failed (no $RESCUE_ISO)"; exit 1; }
else
    bash dist/rescue/build.sh "$work/rescue.iso" || { echo "rescue: 0 passed, 1 failed (the image did not build)"; exit 1; }
fi
t_build=$(( $(date +%s) - t0 ))

# The medium in QEMU's drive; the BIOS PC's rescue stick with fw.bin in its FAT
# partition (a copy of the image, written as a user would); the second stick.
head -c 2097152 /dev/urandom > "$work/test.iso"
iso_md5=$(md5sum "$work/test.iso" | cut -d' ' -f1)
cp "$work/rescue.iso" "$work/stick-bios.img"
fat_at=$(python3 - "$work/stick-bios.img" <<'PY'
import struct, sys
mbr = open(sys.argv[1], "rb").read(512)
for i in range(4):
    e = mbr[446 + 16 * i: 462 + 16 * i]
    if e[4] in (0x0B, 0x0C):
        print(struct.unpack("<I", e[8:12])[0] * 512)
PY
)
[ -n "$fat_at" ] || { echo "rescue: 0 passed, 1 failed (the image has no FAT partition in its MBR)"; exit 1; }
mcopy -i "$work/stick-bios.img@@$fat_at" fixtures/btc-ide1008-0758.bin ::fw.bin \
    || { echo "rescue: 0 passed, 1 failed (could not copy fw.bin to the image's FAT partition)"; exit 1; }
truncate -s 8M "$work/fat.img"
mformat -i "$work/fat.img" -v FWSTICK :: >/dev/null
mcopy -i "$work/fat.img" fixtures/btc-ide1008-0758.bin ::fw.bin
ovmf=""
for f in /usr/share/OVMF/OVMF_CODE_4M.fd /usr/share/OVMF/OVMF_CODE.fd; do
    [ -f "$f" ] && { ovmf=$f; break; }
done
if [ -z "$ovmf" ]; then
    apt_install ovmf || true
    for f in /usr/share/OVMF/OVMF_CODE_4M.fd /usr/share/OVMF/OVMF_CODE.fd; do
        [ -f "$f" ] && { ovmf=$f; break; }
    done
fi
if [ -n "$ovmf" ]; then
    cp "${ovmf/CODE/VARS}" "$work/vars.fd"
    cp "$work/rescue.iso" "$work/stick-uefi.img"
fi

cat > "$work/session.py" <<'PY'
import os, re, subprocess, sys, time, select
work, iso_md5, pc, ovmf = sys.argv[1:5]
common = ["-m", "512" if pc == "uefi" else "256", "-smp", "1", "-accel", "tcg,thread=single", "-nographic", "-no-reboot",
          "-net", "none", "-device", "qemu-xhci,id=xhci",
          "-drive", f"if=none,id=boot,format=raw,file={work}/stick-{pc}.img",
          "-device", "usb-storage,bus=xhci.0,drive=boot,bootindex=0",
          "-drive", f"if=none,id=cd,media=cdrom,readonly=on,format=raw,file={work}/test.iso",
          "-device", "ide-cd,drive=cd,bus=ide.1,unit=0"]
if pc == "bios":
    # fw.bin in the rescue stick's own FAT partition.
    cmd = ["qemu-system-i386", "-M", "pc", "-cpu", "pentium3"] + common
else:
    # OVMF; fw.bin on a second stick.
    cmd = ["qemu-system-x86_64", "-M", "pc", "-cpu", "qemu64",
           "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={ovmf}",
           "-drive", f"if=pflash,format=raw,unit=1,file={work}/vars.fd"] + common + [
           "-drive", f"if=none,id=fw,format=raw,file={work}/fat.img",
           "-device", "usb-storage,bus=xhci.0,drive=fw"]
q = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT)
buf = b""
log = open(os.environ["RESCUE_SERIAL_LOG"], "wb")
def wait(pattern, timeout):
    global buf
    end = time.time() + timeout
    while time.time() < end:
        m = re.search(pattern.encode(), buf)
        if m:
            out = buf[: m.end()]
            buf = buf[m.end():]
            return out.decode(errors="replace")
        r, _, _ = select.select([q.stdout], [], [], 1)
        if r:
            b = os.read(q.stdout.fileno(), 65536)
            if not b:
                break
            log.write(b); log.flush()
            buf += b
    return None
def run(cmd, timeout=300, answer=None):
    q.stdin.write((cmd + "; echo RC=$?:END\n").encode()); q.stdin.flush()
    out = wait(r"RC=[0-9]+:END|\[y/N\] ", timeout)
    if out is not None and answer is not None and out.endswith("[y/N] "):
        q.stdin.write((answer + "\n").encode()); q.stdin.flush()
        rest = wait(r"RC=[0-9]+:END", timeout)
        out = out + (rest or "")
    if out is None or "RC=" not in out:
        return None, out or ""
    rc = out.rsplit("RC=", 1)[1].split(":")[0]
    return int(rc) if rc.isdigit() else None, out
passed = failed = 0
def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1; print(f"RESCUE-TEST PASS {pc}-{name}")
    else:
        failed += 1; print(f"RESCUE-TEST FAIL {pc}-{name}"); print("    | " + detail.replace("\n", "\n    | "))
def session():
    welcome = wait("RESCUE-READY", 400)
    check("boots-to-the-instructions", welcome is not None and "port 3 = secondary master" in welcome,
          (welcome or buf.decode(errors="replace"))[-1500:])
    if welcome is None:
        return 6
    fw = re.search(r"\n +/media/(sd[a-z]+)([0-9]*)/fw\.bin", welcome)
    check("finds-the-firmware", fw is not None, welcome[-800:])
    time.sleep(1)
    rc, mounts = run("cat /proc/mounts")
    fat = re.findall(r"^/dev/(sd[a-z]+)([0-9]*) /media/\S+ vfat ", mounts, re.M)
    if pc == "bios":
        # The rescue stick's FAT partition (which holds fw.bin), not the boot loader's.
        check("firmware-on-the-rescue-stick", fw is not None and fw.group(2) != ""
              and fat == [fw.groups()], mounts[-800:])
    else:
        # The second stick (no partition table) holds fw.bin; the rescue stick's FAT
        # partition is mounted too, and nothing else of it.
        check("firmware-on-the-second-stick", fw is not None and len(fat) == 2 and fw.groups() in fat
              and len({d for d, _ in fat}) == 2 and mounts.count(" /media/") == 2, mounts[-800:])
    rc, out = run("mtkflash scan")
    print("\n".join("RESCUE-SHOW " + l for l in out.splitlines()[-8:]))
    check("scan-finds-port-3-alone", rc == 0 and re.search(r"\n *1\. 3 +QEMU QEMU DVD-ROM", out) is not None
          and out.count("legacy port") == 1, out[-800:])
    # (QEMU's drive refuses the intro; mtkflash asks whether to wait for a power cycle,
    # as it does for a drive that runs its boot code only: the technician says no.)
    rc, out = run("mtkflash 3 w /m $(ls /media/*/fw.bin | head -1)", answer="n")
    check("write-asks-about-a-power-cycle", "[y/N]" in out, out[-800:])
    print("\n".join("RESCUE-SHOW " + l for l in out.splitlines()[-6:]))
    check("write-refused-not-mediatek", rc == 4 and "not a MediaTek drive" in out, out[-1200:])
    check("write-drive-not-touched", "drive: not touched" in out, out[-800:])
    rc, out = run("grep ' /media/' /proc/mounts")
    check("sticks-read-only-again", rc == 0 and re.search(r" /media/\S+ \S+ rw[, ]", out) is None and " ro" in out, out[-400:])
    if pc == "bios":
        rc, out = run("ata-drivers >/dev/null; sleep 2; md5sum /dev/sr0")
        check("medium-untouched", iso_md5 in out, out[-400:])
    else:
        # (OVMF leaves the PIIX's IDE decode bits (config 0x41/0x43, bit 7) clear, so
        # ata_piix takes both channels as switched off and /dev/sr0 never appears; QEMU
        # answers on the ports all the same. The drive is asked again instead.)
        rc, out = run("mtkflash info 3", answer="n")
        check("drive-still-answers", rc == 4 and "QEMU DVD-ROM" in out and "not a MediaTek drive" in out, out[-600:])
    rc, out = run("ls /media/*/")
    check("no-backup-on-the-stick", rc == 0 and "backup" not in out.lower(), out[-400:])
    q.stdin.write(b"poweroff -f\n"); q.stdin.flush()
    try:
        q.wait(60)
    except subprocess.TimeoutExpired:
        q.kill()
    return 0
try:
    missed = session()
finally:
    if q.poll() is None:
        q.kill()
failed += missed
print(f"rescue on {pc}: {passed} passed, {failed} failed")
print(f"RESCUE-COUNT {passed} {failed}")
sys.exit(1 if failed else 0)
PY
total=0
passed=0
failed=0
for pc in bios uefi; do
    if [ $pc = uefi ] && [ -z "$ovmf" ]; then
        echo "rescue image on UEFI: SKIPPED (no OVMF: Debian's ovmf package)"
        continue
    fi
    t1=$(date +%s)
    serial_log=${RESCUE_SERIAL_LOG:-$work/serial}-$pc.log
    RESCUE_SERIAL_LOG=$serial_log timeout 1200 python3 -u "$work/session.py" "$work" "$iso_md5" "$pc" "$ovmf" \
        | tee "$work/out-$pc.txt" | grep -v "^RESCUE-COUNT"
    rc=${PIPESTATUS[0]}
    read -r _ p f < <(grep "^RESCUE-COUNT" "$work/out-$pc.txt" || echo "- 0 1")
    passed=$((passed + p))
    failed=$((failed + f))
    echo "rescue image on $pc: QEMU session $(( $(date +%s) - t1 )) s"
    if [ $rc -ne 0 ]; then
        echo "last serial lines:"; tail -30 "$serial_log" | tr -d '\r'
        total=1
    fi
done
echo "rescue: $passed passed, $failed failed"
echo "rescue image: $(( $(stat -c %s "$work/rescue.iso") / 1024 )) KiB, built in $t_build s"
[ $total = 0 ] && [ $failed = 0 ]
