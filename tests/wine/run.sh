#!/usr/bin/env bash
# The Windows build run under Wine (Debian's wine 8.0) against the virtual drive.
#
# The drive is reached the way a Windows user reaches one: `D:` (and `\\.\CdRom0`) opened
# with CreateFile, commands sent with DeviceIoControl. Wine's SCSI pass-through turns
# IOCTL_SCSI_PASS_THROUGH(_DIRECT) into Linux SG_IO on the file Wine maps the drive to
# (dosdevices/d:: and cdrom0, here an ordinary file), and the project's LD_PRELOAD shim
# (tests/shim/sgshim.c, MTKSHIM_MATCH=inode) answers SG_IO on that file from
# `mtkflash sim serve`. Wine has no IOCTL_ATA_PASS_THROUGH (it answers "not supported"),
# so vendor mode goes as ATA PASS-THROUGH(16) CDBs through SPTI, mtkflash's fallback.
#
# Wine 8.0 also lacks bcryptprimitives.dll, which Rust's standard library imports: a
# stand-in (tests/wine/bcryptprimitives.c) goes into the prefix. tests/wine/spawn.c
# passes a file name with an unpaired UTF-16 surrogate, which no Linux command line can.
#
#   bash tests/wine/run.sh [MTKFLASH.EXE]   (default: target/dist's, else built)
#
# Prints `wine: N passed, M failed`, the transcript of each case with `WINE-SHOW`, and
# exits non-zero on failures. Skips (exit 0, saying why) without apt-get to install wine.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
. dist/lib.sh
skip_name="wine test"
t0=$(date +%s)

if ! command -v wine >/dev/null; then
    command -v apt-get >/dev/null || skip "no wine and no apt-get to install it"
    apt_install wine64 wine || skip "could not install wine64 wine"
fi
command -v x86_64-w64-mingw32-gcc >/dev/null || apt_install gcc-mingw-w64-x86-64 \
    || { echo "wine: 0 passed, 1 failed (no MinGW-w64 for the test's Windows helpers)"; exit 1; }

v=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
exe=${1:-target/dist/mtkflash-$v-x86_64-windows.exe}
if [ ! -f "$exe" ]; then
    rustup target add x86_64-pc-windows-gnu >/dev/null 2>&1
    cargo build --release --quiet --target x86_64-pc-windows-gnu \
        || { echo "wine: 0 passed, 1 failed (the Windows build failed)"; exit 1; }
    exe=target/x86_64-pc-windows-gnu/release/mtkflash.exe
fi
exe=$(realpath "$exe")
cargo build --release --quiet || { echo "wine: 0 passed, 1 failed (the Linux build, for sim)"; exit 1; }
lin="$root/target/release/mtkflash"

work=$(mktemp -d)
trap 'wineserver -k >/dev/null 2>&1; rm -rf "$work"' EXIT
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
export XDG_STATE_HOME="$work/state"
wine wineboot --init >/dev/null 2>&1 || { echo "wine: 0 passed, 1 failed (wineboot)"; exit 1; }
x86_64-w64-mingw32-gcc -shared -O2 -Wall -Werror -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
    tests/wine/bcryptprimitives.c -ladvapi32 || { echo "wine: 0 passed, 1 failed (stub DLL)"; exit 1; }
x86_64-w64-mingw32-gcc -municode -O2 -Wall -Werror -o "$work/spawn.exe" tests/wine/spawn.c \
    || { echo "wine: 0 passed, 1 failed (spawn.exe)"; exit 1; }
gcc -shared -fPIC -O2 -Wall -Werror -o "$work/sgshim.so" tests/shim/sgshim.c -ldl -lpthread \
    || { echo "wine: 0 passed, 1 failed (the SG_IO shim)"; exit 1; }
echo "wine $(wine --version 2>/dev/null), prefix ready in $(( $(date +%s) - t0 )) s"

# The drive Windows sees: D: and \\.\CdRom0 are this file.
d="$work/d"
mkdir -p "$d"
: > "$d/cdrom"
ln -sfn "$d/cdrom" "$WINEPREFIX/dosdevices/d::"
ln -sfn "$d/cdrom" "$WINEPREFIX/dosdevices/cdrom0"
winpath() { echo "Z:${1//\//\\}"; } # a Unix path as Windows spells it

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "WINE-TEST PASS $1"; }
bad() {
    fail=$((fail + 1))
    echo "WINE-TEST FAIL $1: $2"
    sed 's/^/    | /' "$work/out.txt" | tail -25
}
# Serve a drive file for one connection (the next command's).
serve() { # drive file
    rm -f "$d/s.sock"
    "$lin" sim serve "$1" --socket "$d/s.sock" --log "$d/serve.log" --time-scale 10 > "$d/serve.out" 2>&1 &
    server=$!
    for _ in $(seq 50); do [ -S "$d/s.sock" ] && return 0; sleep 0.1; done
    echo "sim serve did not start: $(cat "$d/serve.out")"
}
stop_server() {
    [ -n "${server:-}" ] || return 0
    for _ in $(seq 50); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
    kill "$server" 2>/dev/null
    wait "$server" 2>/dev/null
    server=""
}
# Run the .exe (through spawn.exe when `via` is set) with the shim; output in out.txt.
win() {
    (cd "$d" && MTKSHIM_MATCH=inode MTKSHIM_DEV="$d/cdrom" MTKSHIM_SOCK="$d/s.sock" \
        LD_PRELOAD="$work/sgshim.so" wine ${via:-} "$exe" "$@") > "$work/out.txt" 2>&1
    code=$?
    sed 's/^/WINE-SHOW /' "$work/out.txt" | tail -8
}
# t NAME WANT-EXIT TEXT... -- ARGS: the exit code and every text must match.
t() {
    local name=$1 want=$2
    shift 2
    local texts=()
    while [ "$1" != "--" ]; do texts+=("$1"); shift; done
    shift
    echo "WINE-SHOW > mtkflash.exe $*"
    win "$@"
    if [ "$code" != "$want" ]; then bad "$name" "exit $code, wanted $want"; return; fi
    for x in "${texts[@]}"; do
        grep -qF -- "$x" "$work/out.txt" || { bad "$name" "no '$x' in the output"; return; }
    done
    ok "$name"
}
revision() { # drive file: the firmware revision in its flash
    "$lin" sim show "$1" | sed -n 's/^Firmware: *BTC DVDRW IDE1008 //p'
}

# Drives: the default 1 MiB one for the BTC update; 128 KiB ones for vendor mode (every
# vendor command is one DeviceIoControl through Wine).
(cd "$d" && "$lin" --no-log sim new btc.mtksim --chip SST39VF080 >/dev/null \
    && "$lin" --no-log sim new work.mtksim --chip SST39SF010A >/dev/null \
    && "$lin" --no-log sim new dead.mtksim --chip SST39SF010A --bricked >/dev/null \
    && "$lin" --no-log sim new src.mtksim --chip SST39SF010A --drive "BTC|DVDRW IDE1008|0758" >/dev/null \
    && "$lin" --no-log sim export src.mtksim fw128.bin >/dev/null \
    && "$lin" --no-log sim export work.mtksim work-before.bin >/dev/null) \
    || { echo "wine: 0 passed, 1 failed (virtual drives)"; exit 1; }
mkdir -p "$d/My Firmware"
cp fixtures/btc-ide1008-0758.bin "$d/My Firmware/fw.bin"
cp "$d/fw128.bin" "$d/My Firmware/fw128.bin"

# --- Commands that touch no drive.
t help-names-windows-targets 0 '\\.\CdRom0' 'E:' -- --help
if grep -q '/dev/sg' "$work/out.txt"; then bad help-has-no-linux-devices "--help names /dev/sgN on Windows"; else ok help-has-no-linux-devices; fi
t version-names-target 0 "x86_64-pc-windows-gnu" -- --version
t check-backslash-path 0 "revision '0758'" -- --no-log check "$(winpath "$d/My Firmware/fw.bin")"
t missing-file-drive-letter 3 'C:\nowhere\fw.bin' "drive: not touched" -- --no-log write D: 'C:\nowhere\fw.bin'
t classic-raw-ports-refused 4 "kernel driver" "drive: not touched" -- --no-log 3 w /m "$(winpath "$d/My Firmware/fw.bin")"
via="$work/spawn.exe" t utf16-name-not-utf8 3 "cannot read" "drive: not touched" -- --no-log check 'fw@D800@.bin'
if grep -q "panicked" "$work/out.txt"; then bad utf16-name-no-panic "it panicked"; else ok utf16-name-no-panic; fi
touch "$d/exists.bin"
t read-never-overwrites 3 "exists" "drive: not touched" -- --no-log read D: "$(winpath "$d/exists.bin")"

# --- The drive's own update (BTC WRITE BUFFER through SPTI).
serve "$d/btc.mtksim"
t info-identity 0 "[BTC][DVDRW IDE1008][0055]" "answers the MTK vendor intro" -- --no-log info D:
stop_server
serve "$d/btc.mtksim"
t btc-update 0 "Drive is now:       [BTC][DVDRW IDE1008][0758]" -- --no-log write D: "$(winpath "$d/My Firmware/fw.bin")"
stop_server
[ "$(revision "$d/btc.mtksim")" = 0758 ] && ok btc-update-flash-holds-0758 || bad btc-update-flash-holds-0758 "revision $(revision "$d/btc.mtksim")"

# --- Vendor mode over ATA pass-through: a whole write with backup, a read, a recovery.
serve "$d/work.mtksim"
t vendor-dry-run 0 "Dry run: nothing was erased or programmed" -- \
    --no-log write D: "$(winpath "$d/My Firmware/fw128.bin")" --method vendor --dry-run
stop_server
[ "$(revision "$d/work.mtksim")" = 0055 ] && ok vendor-dry-run-changes-nothing || bad vendor-dry-run-changes-nothing "revision $(revision "$d/work.mtksim")"
serve "$d/work.mtksim"
t vendor-write 0 "experimental" "Verify OK" "Drive now: BTC DVDRW IDE1008 0758" -- \
    write '\\.\CdRom0' "$(winpath "$d/My Firmware/fw128.bin")" --method vendor
stop_server
[ "$(revision "$d/work.mtksim")" = 0758 ] && ok vendor-write-flash-holds-0758 || bad vendor-write-flash-holds-0758 "revision $(revision "$d/work.mtksim")"
serve "$d/work.mtksim"
t vendor-verify 0 "Verify OK: the flash matches" -- --no-log verify D: "$(winpath "$d/My Firmware/fw128.bin")"
stop_server
backup=$(ls "$d/My Firmware/"*backup* 2>/dev/null | head -1)
if [ -n "$backup" ] && cmp -s "$backup" "$d/work-before.bin"; then ok vendor-write-backup-is-the-old-flash
else bad vendor-write-backup-is-the-old-flash "backup '${backup}' differs from the flash before"; fi
serve "$d/work.mtksim"
t vendor-read 0 "Reading...." -- --no-log read D: "$(winpath "$d")\\Sicherung ü.bin"
stop_server
"$lin" --no-log sim export "$d/work.mtksim" "$d/work-after.bin" >/dev/null
if cmp -s "$d/Sicherung ü.bin" "$d/work-after.bin"; then ok vendor-read-equals-the-flash
else bad vendor-read-equals-the-flash "no read file, or it differs ($(ls "$d"))"; fi
# A name Windows allows and Linux cannot hold (an unpaired surrogate): Wine cannot
# create it, and mtkflash says so after the read, with the flash unchanged.
serve "$d/work.mtksim"
via="$work/spawn.exe" t utf16-output-name 3 "cannot write" "flash not changed" -- \
    --no-log read D: "$(winpath "$d")\\read@D800@.bin"
stop_server
# scan: the optical drives Windows has, and with --intro whether they answer it.
serve "$d/work.mtksim"
t scan-intro 0 '\\.\CdRom0' "BTC DVDRW IDE1008 0758" "yes, flash SST(SST39SF010A)" -- --no-log scan --intro
stop_server
serve "$d/dead.mtksim"
t boot-only-recovery 0 "runs boot code only" "Drive now: BTC DVDRW IDE1008 0758" -- \
    --no-log write D: "$(winpath "$d/fw128.bin")" --method vendor --no-backup
stop_server
[ "$(revision "$d/dead.mtksim")" = 0758 ] && ok boot-only-drive-runs-0758 || bad boot-only-drive-runs-0758 "revision $(revision "$d/dead.mtksim")"

# --- The README's main command on the default virtual drive.
cp -r fixtures "$d/"
t main-command 0 "Verify OK" "Drive now: BTC DVDRW IDE1008 0758" -- --no-log sim w /m 'fixtures\btc-ide1008-0758.hex'
t main-command-saved 0 "Firmware:  BTC DVDRW IDE1008 0758" -- --no-log sim show mtkflash-default.mtksim

echo "wine: $pass passed, $fail failed ($(( $(date +%s) - t0 )) s)"
[ "$fail" -eq 0 ]
