#!/usr/bin/env bash
# Builds dist/mlsleuth_<version>_amd64.deb from the field binary (bash packaging/build_binary.sh
# first) and the packaging data, in Debian's conventional places:
#   /usr/bin/mlsleuth                               the single-file binary
#   /lib/systemd/system/mlsleuth-watch.service      the watch agent unit (not enabled by the package)
#   /usr/share/osquery/packs/mlsleuth-*.conf        osquery packs (where osquery's own packs live)
#   /usr/share/mlsleuth/{yara,semgrep,velociraptor} rules and artifacts
#   /usr/share/doc/mlsleuth/                        README, copyright
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-dist/mlsleuth}
[ -x "$BIN" ] || { echo "build the binary first: bash packaging/build_binary.sh" >&2; exit 2; }
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' mlsleuth/__init__.py)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
install -Dm0755 "$BIN" "$STAGE/usr/bin/mlsleuth"
for unit in packaging/systemd/*.service; do
  [ -e "$unit" ] && install -Dm0644 "$unit" "$STAGE/lib/systemd/system/$(basename "$unit")"
done
for pack in packaging/osquery/*.conf packaging/osquery/*.json; do
  [ -e "$pack" ] || continue
  name=$(basename "$pack"); name=${name%.*}
  install -Dm0644 "$pack" "$STAGE/usr/share/osquery/packs/mlsleuth-${name#mlsleuth-}.conf"
done
for kind in yara semgrep velociraptor; do
  [ -d "packaging/$kind" ] || continue
  find "packaging/$kind" -type f \( -name '*.yar' -o -name '*.yara' -o -name '*.yaml' -o -name '*.yml' \) \
    -exec install -Dm0644 {} "$STAGE/usr/share/mlsleuth/$kind/" \;
done
install -Dm0644 README.md "$STAGE/usr/share/doc/mlsleuth/README.md"
install -d "$STAGE/usr/share/doc/mlsleuth"
printf 'mlsleuth\nLicense: Apache-2.0\n' >"$STAGE/usr/share/doc/mlsleuth/copyright"
install -d "$STAGE/DEBIAN"
SIZE_KB=$(du -sk "$STAGE" | cut -f1)
cat >"$STAGE/DEBIAN/control" <<CONTROL
Package: mlsleuth
Version: $VERSION
Architecture: amd64
Maintainer: mlsleuth developers <dev@mlsleuth.invalid>
Section: admin
Priority: optional
Installed-Size: $SIZE_KB
Description: DFIR toolkit for machine-learning hosts
 Collects model caches, notebooks, histories and pip provenance into a
 verifiable evidence archive, statically inspects model files, and watches
 ML hosts for model downloads and persistence writes.
CONTROL
mkdir -p dist
OUT="dist/mlsleuth_${VERSION}_amd64.deb"
dpkg-deb --root-owner-group --build "$STAGE" "$OUT" >/dev/null
echo "$OUT"
