#!/usr/bin/env bash
# The rescue image under QEMU: dist/rescue/build.sh makes it; a 32-bit PC (Pentium III,
# SeaBIOS) boots it from a USB stick, with QEMU's ide-cd on the secondary master and a
# second stick holding fw.bin on FAT. A scripted session on the serial console runs
# `mtkflash scan` and `mtkflash 3 w /m /media/.../fw.bin`: QEMU's drive is found on
# port 3, refused as not MediaTek (exit 4, drive not touched), the medium is unchanged
# and the stick holds no backup (nothing was read, so nothing was saved).
# Prints `rescue: N passed, M failed`, the image's size and the times.
set -uo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
skip() { echo "rescue image test: SKIPPED ($*)"; exit 0; }
command -v qemu-system-i386 >/dev/null || {
    command -v apt-get >/dev/null || skip "no qemu-system-i386 and no apt-get"
    { apt-get install -y -qq --no-install-recommends qemu-system-x86 >/dev/null 2>&1 \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends qemu-system-x86; } >/dev/null 2>&1; } \
        || skip "could not install qemu-system-x86"
}
command -v mformat >/dev/null || apt-get install -y -qq --no-install-recommends mtools >/dev/null 2>&1

t0=$(date +%s)
bash dist/rescue/build.sh "$work/rescue.iso" || { echo "rescue: 0 passed, 1 failed (the image did not build)"; exit 1; }
t_build=$(( $(date +%s) - t0 ))

# The medium in QEMU's drive, and the firmware stick (FAT, no partition table).
head -c 2097152 /dev/urandom > "$work/test.iso"
iso_md5=$(md5sum "$work/test.iso" | cut -d' ' -f1)
truncate -s 8M "$work/fat.img"
mformat -i "$work/fat.img" -v FWSTICK :: >/dev/null
mcopy -i "$work/fat.img" fixtures/btc-ide1008-0758.bin ::fw.bin

t1=$(date +%s)
serial_log=${RESCUE_SERIAL_LOG:-$work/serial.log}
RESCUE_SERIAL_LOG=$serial_log timeout 1200 python3 -u - "$work" "$iso_md5" <<'PY'
import os, re, subprocess, sys, time, select
work, iso_md5 = sys.argv[1], sys.argv[2]
q = subprocess.Popen([
    "qemu-system-i386", "-M", "pc", "-cpu", "pentium3", "-m", "256", "-smp", "1",
    "-accel", "tcg,thread=single", "-nographic", "-no-reboot", "-net", "none",
    "-device", "qemu-xhci,id=xhci",
    "-drive", f"if=none,id=boot,format=raw,file={work}/rescue.iso,readonly=on",
    "-device", "usb-storage,bus=xhci.0,drive=boot,bootindex=0",
    "-drive", f"if=none,id=fw,format=raw,file={work}/fat.img",
    "-device", "usb-storage,bus=xhci.0,drive=fw",
    "-drive", f"if=none,id=cd,media=cdrom,readonly=on,format=raw,file={work}/test.iso",
    "-device", "ide-cd,drive=cd,bus=ide.1,unit=0",
], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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
        passed += 1; print(f"RESCUE-TEST PASS {name}")
    else:
        failed += 1; print(f"RESCUE-TEST FAIL {name}"); print("    | " + detail.replace("\n", "\n    | "))
def session():
    welcome = wait("RESCUE-READY", 400)
    check("boots-to-the-instructions", welcome is not None and "port 3 = secondary master" in welcome,
          (welcome or buf.decode(errors="replace"))[-1500:])
    if welcome is None:
        return 6
    check("finds-the-firmware-stick", re.search(r"\n +/media/sd[a-z0-9]+/fw\.bin", welcome) is not None, welcome[-800:])
    time.sleep(1)

    rc, out = run("mtkflash scan")
    print("\n".join("RESCUE-SHOW " + l for l in out.splitlines()[-8:]))
    check("scan-finds-port-3", rc == 0 and re.search(r"\n *3\. 3 +QEMU QEMU DVD-ROM", out) is not None, out[-800:])
    # (QEMU's drive refuses the intro; mtkflash asks whether to wait for a power cycle,
    # as it does for a drive that runs its boot code only: the technician says no.)
    rc, out = run("mtkflash 3 w /m $(ls /media/*/fw.bin | head -1)", answer="n")
    check("write-asks-about-a-power-cycle", "[y/N]" in out, out[-800:])
    print("\n".join("RESCUE-SHOW " + l for l in out.splitlines()[-6:]))
    check("write-refused-not-mediatek", rc == 4 and "not a MediaTek drive" in out, out[-1200:])
    check("write-drive-not-touched", "drive: not touched" in out, out[-800:])
    rc, out = run("grep ' /media/' /proc/mounts")
    check("sticks-read-only-again", rc == 0 and re.search(r" /media/\S+ \S+ rw[, ]", out) is None and " ro" in out, out[-400:])
    rc, out = run("ata-drivers >/dev/null; sleep 2; md5sum /dev/sr0")
    check("medium-untouched", iso_md5 in out, out[-400:])
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
print(f"rescue: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
rc=$?
echo "rescue image: $(( $(stat -c %s "$work/rescue.iso") / 1024 )) KiB, built in $t_build s, QEMU session $(( $(date +%s) - t1 )) s"
if [ $rc -ne 0 ]; then echo "last serial lines:"; tail -30 "$serial_log" | tr -d '\r'; fi
exit $rc
