#!/usr/bin/env bash
# Builds the single-file field binary dist/mlsleuth (Linux x86-64, PyInstaller onefile) from this
# checkout in a throw-away virtual environment:   bash packaging/build_binary.sh
#
# The field binary carries what collect, scan, verify, watch and osquery-extension need. The
# timeline stack (pandas, XlsxWriter) stays out: it is analysis-workstation work, and pandas alone
# would double the binary. `mlsleuth timeline` in the binary says so and exits 2.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
BUILD=${MLSLEUTH_BUILD_DIR:-build/binary}
rm -rf "$BUILD"
mkdir -p "$BUILD" dist
"$PY" -m venv "$BUILD/venv"
"$BUILD/venv/bin/python" -m pip install -q --upgrade pip
"$BUILD/venv/bin/python" -m pip install -q . "pyinstaller>=6.0"
if [ -n "${MLSLEUTH_WITH_YARA:-}" ]; then "$BUILD/venv/bin/python" -m pip install -q "yara-python>=4.3"; fi
"$BUILD/venv/bin/pyinstaller" --noconfirm --clean --onefile --name mlsleuth \
  --distpath dist --workpath "$BUILD/work" --specpath "$BUILD" \
  --collect-submodules mlsleuth --collect-data mlsleuth \
  --exclude-module pandas --exclude-module xlsxwriter --exclude-module openpyxl \
  --exclude-module mlsleuth.timelines --exclude-module matplotlib --exclude-module IPython \
  --exclude-module tkinter --exclude-module pytest \
  packaging/pyinstaller/entry.py >"$BUILD/pyinstaller.log" 2>&1 || { tail -40 "$BUILD/pyinstaller.log"; exit 1; }
sha256sum dist/mlsleuth | tee dist/mlsleuth.sha256
ls -l dist/mlsleuth
