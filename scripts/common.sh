# Shared by scripts/run and scripts/test: install what is missing, build.
# Sourced, not run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${TLSPEEK_BUILD_DIR:-$ROOT/build}"

# Debian packages needed to build and run tlspeek (README, "Dependencies").
BUILD_PACKAGES="gcc meson ninja-build pkg-config libevent-dev libssl-dev libhttp-parser-dev libjansson-dev libnghttp2-dev ca-certificates"

# Install the Debian packages named in "$@" that are not installed yet:
# directly when root, otherwise print the exact command and stop.
ensure_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "tlspeek: missing packages: ${missing[*]}" >&2
        echo "Install them with:" >&2
        echo "  sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "Installing ${missing[*]} ..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# Configure (once) and build into $BUILD_DIR; extra arguments go to meson setup.
build() {
    if [ ! -f "$BUILD_DIR/build.ninja" ]; then
        meson setup "$BUILD_DIR" "$ROOT" "$@" >&2
    fi
    ninja -C "$BUILD_DIR" >&2
}
