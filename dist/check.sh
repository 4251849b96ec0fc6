#!/usr/bin/env bash
# Checks of the release artifacts dist/build.sh made in target/dist (run by .ci/run and
# by the release workflow before it uploads): the Linux binaries are static, the 32-bit
# one has no SSE2 outside glibc's CPU-dispatched functions and runs the README's main
# command, --version names the target, the .deb holds binary, man page and completions,
# the Windows .exe files import system DLLs only, SHA256SUMS matches.
set -euo pipefail
cd "$(dirname "$0")/.."
v=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
d=target/dist
b32="$d/mtkflash-$v-i586-linux"
b64="$d/mtkflash-$v-x86_64-linux"
for b in "$b32" "$b64"; do
    # (Static: no program interpreter.)
    if readelf -l "$b" | grep -q "Requesting program interpreter"; then echo "$b is not static"; exit 1; fi
    echo "$b: static, $(stat -c %s "$b") bytes"
done
"$b64" --version | grep -q "x86_64-unknown-linux-musl" || { echo "x86_64: --version does not name its target"; exit 1; }
"$b32" --version | grep -q "i586-unknown-linux-gnu" || { echo "i586: --version does not name its target"; exit 1; }
echo "--version names the target"
# The 32-bit binary runs on a Pentium III: no SSE2 in anything but glibc's string
# functions that CPUID picks at run time.
asm=$(mktemp)
objdump -d --no-show-raw-insn "$b32" > "$asm"
sse=$(awk '/^[0-9a-f]+ <.*>:$/{fn=$2} /%xmm|\t(mfence|lfence|movnti|clflush)/{print fn}' "$asm" \
    | sort -u | grep -vE '_(sse2|ssse3|sse4_?[12]|avx2?|evex)' || true)
rm -f "$asm"
[ -z "$sse" ] || { echo "SSE in the 32-bit binary outside glibc's dispatched functions:"; echo "$sse" | head; exit 1; }
echo "32-bit: no SSE2 outside glibc's CPU-dispatched functions"
# The README's main command with the 32-bit binary (a 64-bit kernel runs it).
scratch=$(mktemp -d)
cp -r fixtures "$scratch/"
(cd "$scratch" && "$OLDPWD/$b32" --no-log sim w /m fixtures/btc-ide1008-0758.hex > out.txt)
tail -3 "$scratch/out.txt"
grep -q "Verify OK" "$scratch/out.txt" || exit 1
grep -q "Drive now: BTC DVDRW IDE1008 0758" "$scratch/out.txt" || exit 1
rm -rf "$scratch"
echo "32-bit main command: ok"
debc=$(dpkg-deb -c "$d/mtkflash_${v}_amd64.deb")
for f in usr/bin/mtkflash usr/share/man/man1/mtkflash.1.gz usr/share/bash-completion/completions/mtkflash; do
    grep -q -- "$f" <<<"$debc" || { echo ".deb: $f missing"; exit 1; }
done
echo ".deb: binary, man page and completions"
for e in "$d/mtkflash-$v-x86_64-windows.exe" "$d/mtkflash-$v-i686-windows.exe"; do
    # (Only DLLs every Windows has: no MinGW runtime DLL to ship beside it.)
    [ -s "$e" ] || { echo "$e missing"; exit 1; }
    dlls=$(objdump -p "$e" | awk '/DLL Name:/ {print tolower($3)}' | sort -u)
    grep -qx 'kernel32.dll' <<<"$dlls" || { echo "$e: no import table read (objdump)"; exit 1; }
    other=$(echo "$dlls" \
        | grep -vxE 'kernel32\.dll|userenv\.dll|ws2_32\.dll|ntdll\.dll|msvcrt\.dll|bcryptprimitives\.dll|advapi32\.dll|api-ms-win-[a-z0-9-]+\.dll' || true)
    [ -z "$other" ] || { echo "$e needs $other"; exit 1; }
    echo "$(basename "$e"): system DLLs only"
done
iso="$d/mtkflash-$v-rescue.iso"
kib=$(( $(stat -c %s "$iso") / 1024 ))
[ "$kib" -lt 40960 ] || { echo "the rescue image is $kib KiB (aim: under 40 MiB)"; exit 1; }
echo "rescue image: $kib KiB"
(cd "$d" && sha256sum --quiet -c SHA256SUMS) && echo "SHA256SUMS: ok"
