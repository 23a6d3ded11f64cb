#!/usr/bin/env bash
# Builds the single-file field binary dist/mlsleuth (Linux x86-64, PyInstaller onefile) from this
# checkout, in a throw-away virtual environment, with one command:
#
#     bash packaging/build_binary.sh
#
# Needs python3.11 (or $PYTHON) with venv, and a package index (PyPI or a mirror pip is
# configured for). Writes dist/mlsleuth, dist/mlsleuth.sha256, dist/mlsleuth.glibc (oldest C library
# it runs with) and dist/mlsleuth.build-env.txt (pinned build inputs); the checkout is not touched.
#
# What goes in (docs/distribution.md says why): everything collect, verify, scan, packages, watch
# and osquery-extension import, h5py/numpy included (the scanner and the collector read Keras .h5
# model configs through h5py). What stays out: the timeline stack (pandas, XlsxWriter, pyarrow and
# mlsleuth.timelines; ~9 MB) and huggingface_hub (~8 MB, an optional cross-check): analysis-
# workstation work. `mlsleuth timeline|demo|triage` in the binary say so and exit 2.
#
# Environment:
#   PYTHON                   interpreter for the build venv (default python3.11, else python3)
#   MLSLEUTH_BUILD_DIR       scratch directory (default build/binary; wiped first)
#   MLSLEUTH_DIST_DIR        where the binary goes (default dist)
#   MLSLEUTH_RUNTIME_TMPDIR  bake PyInstaller's --runtime-tmpdir into the binary: the bootloader then
#                            unpacks there and ignores TMPDIR. Leave unset for the usual behaviour
#                            (unpack under $TMPDIR, else /tmp); see docs/distribution.md.
#   MLSLEUTH_PIP_ARGS        extra arguments for pip install (e.g. "--constraint pins.txt")
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
BUILD=$(realpath -m "${MLSLEUTH_BUILD_DIR:-build/binary}")
DIST=$(realpath -m "${MLSLEUTH_DIST_DIR:-dist}")
rm -rf "$BUILD"
mkdir -p "$BUILD/src" "$DIST"

# Build from a copy so that setuptools' in-tree build/ and *.egg-info never land in the checkout
# (and parallel builds cannot trip over each other).
cp -r setup.py pyproject.toml README.md mlsleuth collector parsers timelines "$BUILD/src/"
[ -e MANIFEST.in ] && cp MANIFEST.in "$BUILD/src/"
find "$BUILD/src" -name __pycache__ -prune -exec rm -rf {} +

"$PY" -m venv "$BUILD/venv"
VPY="$BUILD/venv/bin/python"
# shellcheck disable=SC2086  # MLSLEUTH_PIP_ARGS is a list of words on purpose
"$VPY" -m pip install -q --no-compile ${MLSLEUTH_PIP_ARGS:-} "$BUILD/src" "pyinstaller>=6.0,<7"

# What goes in and what stays out is in the spec (packaging/pyinstaller/mlsleuth.spec); it also
# reads MLSLEUTH_RUNTIME_TMPDIR.
export MLSLEUTH_RUNTIME_TMPDIR=${MLSLEUTH_RUNTIME_TMPDIR:-}
"$BUILD/venv/bin/pyinstaller" --noconfirm --clean --distpath "$DIST" --workpath "$BUILD/work" \
  packaging/pyinstaller/mlsleuth.spec >"$BUILD/pyinstaller.log" 2>&1 \
  || { tail -40 "$BUILD/pyinstaller.log" >&2; exit 1; }

# Exact versions that went in, for a rebuild (MLSLEUTH_PIP_ARGS="--constraint <this file>") and
# for the .deb's licence notes.
"$VPY" -m pip freeze --all --exclude-editable | grep -v '^mlsleuth' >"$DIST/mlsleuth.build-env.txt"

# The binary must at least start; its --version line carries its own SHA-256.
"$DIST/mlsleuth" --version
(cd "$DIST" && sha256sum mlsleuth >mlsleuth.sha256)
ls -l "$DIST/mlsleuth"
cat "$DIST/mlsleuth.sha256"
