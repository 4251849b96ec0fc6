# Shell helpers the build and test scripts share (sourced from the project root, not
# run): root rights, Debian packages, the kernel packages, and how a test skips.

# A command as root: directly, else through sudo without a password (GitHub's runners).
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

# Install Debian packages quietly, without recommends; when the first try fails the
# package lists are updated and it is tried again. 0 when installed.
apt_install() {
    command -v apt-get >/dev/null || return 1
    as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 \
        || { as_root apt-get update -qq >/dev/null 2>&1 \
            && as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; }
}

# The i386 architecture in apt, for the 32-bit kernel and busybox. 0 when it is there.
add_i386() {
    dpkg --print-foreign-architectures | grep -qx i386 && return 0
    { as_root dpkg --add-architecture i386 && as_root apt-get update -qq; } >/dev/null 2>&1
}

# The versioned kernel package a meta package (linux-image-amd64, linux-image-686:i386)
# depends on; the lists are updated once when they name none. Empty when there is none.
kernel_package() {
    local k
    k=$({ apt-cache depends "$1" 2>/dev/null || true; } | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    if [ -z "$k" ]; then
        as_root apt-get update -qq >/dev/null 2>&1
        k=$({ apt-cache depends "$1" 2>/dev/null || true; } | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    fi
    echo "$k"
}

# A test that cannot run here says why ($skip_name: SKIPPED) and exits 0; with CI set
# it fails instead, since CI installs everything the tests need.
skip() {
    echo "$skip_name: SKIPPED ($*)"
    [ -z "${CI:-}" ] || { echo "$skip_name: CI is set, so a skip is a failure"; exit 1; }
    exit 0
}
