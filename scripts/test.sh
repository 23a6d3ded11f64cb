#!/usr/bin/env bash
# Sets up a fresh virtual environment with the test extras and runs the whole test suite
# (lint included). README's second quick-start command and .ci/run both call this.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV=${MLSLEUTH_TEST_VENV:-.venv-test}
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[test]'
# Optional cross-checks against the real torch (writers byte-identical to torch.save). Only the
# pinned CPU build: any other spec pulls a multi-GB CUDA build. CI sets MLSLEUTH_TEST_TORCH=1.
if [ -n "${MLSLEUTH_TEST_TORCH:-}" ]; then
  "$VENV/bin/python" -m pip install -q "torch==2.13.0" || echo "torch==2.13.0 unavailable: its cross-checks will skip"
fi
# Semgrep pins its dependencies tightly, so it gets a venv of its own (tests/fleet finds it via SEMGREP_BIN).
if [ -z "${SEMGREP_BIN:-}" ]; then
  rm -rf "$VENV-semgrep"
  "$PY" -m venv "$VENV-semgrep"
  "$VENV-semgrep/bin/python" -m pip install -q "semgrep>=1.50" && export SEMGREP_BIN="$VENV-semgrep/bin/semgrep"
fi
"$VENV/bin/ruff" check .
# pytest exits non-zero when a test fails and (5) when it collects none: both fail the run.
exec "$VENV/bin/python" -m pytest -n auto -p no:cacheprovider "$@"
