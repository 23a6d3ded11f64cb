#!/usr/bin/env bash
# Builds dist/mlsleuth_<version>_<arch>.deb from the field binary (bash packaging/build_binary.sh
# first) and the packaging data, in Debian's conventional places:
#   /usr/bin/mlsleuth                               the single-file binary
#   /lib/systemd/system/*.service|*.timer           the watch agent unit (installed, not enabled)
#   /usr/share/osquery/packs/mlsleuth-*.conf        osquery packs (where osquery's own packs live)
#   /usr/share/mlsleuth/osquery/                    other osquery files (flags examples ...)
#   /usr/share/mlsleuth/{yara,semgrep,velociraptor} rules and artifacts, folder structure kept
#   /usr/share/doc/mlsleuth/                        README, responder docs, copyright
#
#     bash packaging/deb/build_deb.sh [BINARY]     # default dist/mlsleuth; prints the .deb path last
#
# Environment: MLSLEUTH_DIST_DIR (output folder, default dist). Only dpkg-deb is needed (no
# debhelper): the binary is self-contained, so the one dependency is the C library it was built
# against (dist/mlsleuth.glibc, written by the binary build).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-dist/mlsleuth}
DIST=$(realpath -m "${MLSLEUTH_DIST_DIR:-dist}")
[ -x "$BIN" ] || { echo "build the binary first: bash packaging/build_binary.sh" >&2; exit 2; }
command -v dpkg-deb >/dev/null || { echo "dpkg-deb not found (apt-get install dpkg)" >&2; exit 2; }
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' mlsleuth/__init__.py)
case "$(uname -m)" in
  x86_64) ARCH=amd64 ;;
  aarch64) ARCH=arm64 ;;
  *) ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m) ;;
esac
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
chmod 0755 "$STAGE"  # becomes the package's ./ entry; mktemp made it 0700
umask 022

install -Dm0755 "$BIN" "$STAGE/usr/bin/mlsleuth"

for unit in packaging/systemd/*.service packaging/systemd/*.timer packaging/systemd/*.socket; do
  [ -e "$unit" ] && install -Dm0644 "$unit" "$STAGE/lib/systemd/system/$(basename "$unit")"
done

# osquery reads packs from any path named in its config; Debian's osquery package keeps its own in
# /usr/share/osquery/packs, so ours sit beside them, named mlsleuth-* to stay apart.
if [ -d packaging/osquery ]; then
  while IFS= read -r -d '' file; do
    name=$(basename "$file")
    case "$name" in
      *.conf|*.json)
        base=${name%.*}
        install -Dm0644 "$file" "$STAGE/usr/share/osquery/packs/mlsleuth-${base#mlsleuth-}.conf" ;;
      *) install -Dm0644 "$file" "$STAGE/usr/share/mlsleuth/osquery/${file#packaging/osquery/}" ;;
    esac
  done < <(find packaging/osquery -type f ! -path '*/__pycache__/*' -print0)
fi

for kind in yara semgrep velociraptor; do
  [ -d "packaging/$kind" ] || continue
  while IFS= read -r -d '' file; do
    install -Dm0644 "$file" "$STAGE/usr/share/mlsleuth/$kind/${file#packaging/"$kind"/}"
  done < <(find "packaging/$kind" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0)
done

DOC="$STAGE/usr/share/doc/mlsleuth"
install -Dm0644 README.md "$DOC/README.md"
for page in docs/*.md; do [ -e "$page" ] && install -Dm0644 "$page" "$DOC/$(basename "$page")"; done
BUILD_ENV="$(dirname "$BIN")/mlsleuth.build-env.txt"
[ -e "$BUILD_ENV" ] && install -Dm0644 "$BUILD_ENV" "$DOC/build-env.txt"
cat >"$DOC/copyright" <<'COPYRIGHT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: mlsleuth
Comment: /usr/bin/mlsleuth is a PyInstaller single-file build. It bundles CPython (PSF-2.0), the
 PyInstaller bootloader (GPL-2.0-or-later with the bootloader exception) and the Python
 distributions named in build-env.txt beside this file, each under its own licence (mostly
 BSD-3-Clause, MIT and Apache-2.0; h5py bundles HDF5, numpy bundles OpenBLAS, both BSD-style).
Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
COPYRIGHT

DEPENDS=""
GLIBC_FILE="$(dirname "$BIN")/mlsleuth.glibc"
if [ -s "$GLIBC_FILE" ]; then DEPENDS="Depends: libc6 (>= $(tr -d '[:space:]' <"$GLIBC_FILE"))"; fi

install -d "$STAGE/DEBIAN"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
  >"$STAGE/DEBIAN/md5sums"
SIZE_KB=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
{
  echo "Package: mlsleuth"
  echo "Version: $VERSION"
  echo "Architecture: $ARCH"
  echo "Maintainer: mlsleuth developers <dev@mlsleuth.invalid>"
  echo "Section: admin"
  echo "Priority: optional"
  echo "Installed-Size: $SIZE_KB"
  [ -n "$DEPENDS" ] && echo "$DEPENDS"
  echo "Suggests: osquery"
  cat <<'DESC'
Description: DFIR toolkit for machine-learning hosts
 Collects model caches, notebooks, histories and pip provenance into a
 verifiable evidence archive, statically inspects model files (never loads
 them), and watches ML hosts for model downloads and persistence writes.
 .
 This package holds the single-file field binary, the watch agent's systemd
 unit (not enabled on install), osquery packs, and YARA, Semgrep and
 Velociraptor rules. The timeline stack is in `pip install mlsleuth`.
DESC
} >"$STAGE/DEBIAN/control"

mkdir -p "$DIST"
OUT="$DIST/mlsleuth_${VERSION}_${ARCH}.deb"
# gzip, not dpkg's default xz: the binary is already zlib-compressed inside, xz saves 0.1% of the
# size and costs a minute.
dpkg-deb --root-owner-group -Zgzip --build "$STAGE" "$OUT" >/dev/null
echo "$OUT"
