#!/usr/bin/env bash
# Make Inspector's .deb from a built (and stripped) PyInstaller bundle; run lintian on it when lintian is installed.
#
#   packaging/linux/build-deb.sh BUNDLE VERSION DEB_ARCH OUTPUT.deb      # packaging/build-linux.sh calls it
#
# Layout: /usr/lib/inspector (the bundle: an application's private files, Debian policy 9.1.1; not /opt, which lintian
# rejects), /usr/bin/inspector (packaging/linux/launcher.sh), the desktop entry, hicolor icons, the MIME type for
# *.inspector, the manual page, /usr/share/doc/inspector/{copyright,changelog.gz}. No maintainer scripts: the MIME, desktop and icon
# caches are refreshed by the dpkg triggers of shared-mime-info, desktop-file-utils and hicolor-icon-theme.
# Lintian's remaining warnings are justified in packaging/README.md and overridden in
# /usr/share/lintian/overrides/inspector; lintian errors fail the build (exit 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# = 4 ] || { sed -n '2,4p' "$0"; exit 2; }
BUNDLE=$1 VERSION=$2 DEB_ARCH=$3 DEB=$4
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 315532800)}

PKG=build/deb/inspector_${VERSION}_$DEB_ARCH
rm -rf build/deb && mkdir -p "$PKG/DEBIAN" "$PKG/usr/lib" "$PKG/usr/bin" "$PKG/usr/share/applications" \
  "$PKG/usr/share/mime/packages" "$PKG/usr/share/icons/hicolor/256x256/apps" "$PKG/usr/share/icons/hicolor/512x512/apps" \
  "$PKG/usr/share/doc/inspector" "$PKG/usr/share/lintian/overrides" "$PKG/usr/share/man/man1"
cp -a "$BUNDLE" "$PKG/usr/lib/inspector"
chmod -R u+rwX,go+rX,go-w "$PKG/usr/lib/inspector"
install -m 0755 packaging/linux/launcher.sh "$PKG/usr/bin/inspector"
install -m 0644 packaging/linux/inspector.desktop "$PKG/usr/share/applications/inspector.desktop"
install -m 0644 packaging/linux/inspector-mime.xml "$PKG/usr/share/mime/packages/inspector.xml"
install -m 0644 inspector/resources/icons/inspector-256.png "$PKG/usr/share/icons/hicolor/256x256/apps/inspector.png"
install -m 0644 inspector/resources/icons/inspector-512.png "$PKG/usr/share/icons/hicolor/512x512/apps/inspector.png"
install -m 0644 packaging/linux/lintian-overrides "$PKG/usr/share/lintian/overrides/inspector"
gzip -9n <packaging/linux/inspector.1 >"$PKG/usr/share/man/man1/inspector.1.gz"
chmod 0644 "$PKG/usr/share/man/man1/inspector.1.gz"

# copyright: the machine-readable format (DEP-5) with the project's MIT licence; the bundled third-party libraries'
# licences are in their own dist-info folders inside /usr/lib/inspector.
{
  printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n'
  printf 'Upstream-Name: inspector-3factor\n\nFiles: *\nCopyright: 2026 Inspector developers\nLicense: Expat\n'
  sed -e 's/^$/./' -e 's/^/ /' LICENSE
} >"$PKG/usr/share/doc/inspector/copyright"
chmod 0644 "$PKG/usr/share/doc/inspector/copyright"
# changelog: Debian policy 12.7 wants one in every binary package (a native package: changelog.gz).
date_r=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
printf 'inspector (%s) unstable; urgency=medium\n\n  * Release %s (see the project README).\n\n -- %s  %s\n' \
  "$VERSION" "$VERSION" "Inspector developers <inspector@example.org>" "$date_r" |
  gzip -9n >"$PKG/usr/share/doc/inspector/changelog.gz"
chmod 0644 "$PKG/usr/share/doc/inspector/changelog.gz"

installed_kb=$(du -sk --apparent-size "$PKG" | cut -f1)
# The system libraries Qt needs (README "Requirements"): offscreen ones, then those for a real X display.
cat >"$PKG/DEBIAN/control" <<EOF
Package: inspector
Version: $VERSION
Section: devel
Priority: optional
Architecture: $DEB_ARCH
Maintainer: Inspector developers <inspector@example.org>
Installed-Size: $installed_kb
Depends: libc6 (>= 2.34), libgl1, libegl1, libxkbcommon0, libfontconfig1, libfreetype6, libglib2.0-0t64 | libglib2.0-0, libdbus-1-3, libx11-6, libx11-xcb1, libxcb1, libxkbcommon-x11-0, libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-shape0, libxcb-render-util0, libxcb-image0, libxcb-randr0, libxcb-xfixes0, libxcb-xkb1, libxcb-sync1, libxcb-shm0, libxcb-render0, libxcb-glx0
Recommends: fonts-dejavu-core, shared-mime-info, desktop-file-utils, hicolor-icon-theme
Homepage: https://github.com/inspector-3factor/inspector
Description: desktop debugger for event-driven 3factor backends
 Inspector captures a Hasura backend's event triggers, handler invocations
 and GraphQL subscriptions into a capture file (*.inspector), shows them as
 Wireshark shows packets, analyses delivery anomalies and replays events.
 .
 Run "inspector self-test" to check an installation.
EOF
# Reproducible: every file dated SOURCE_DATE_EPOCH (dpkg-deb honours it for the archive members too).
find "$PKG" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH dpkg-deb --root-owner-group -Zxz --build "$PKG" "$DEB" >/dev/null
dpkg-deb --info "$DEB" | sed -n '1,12p'

if command -v lintian >/dev/null; then
  # --fail-on error: warnings are listed (and justified in packaging/README.md), errors fail the build.
  lintian --fail-on error --tag-display-limit 0 "$DEB" || { echo "build-deb: lintian found errors" >&2; exit 1; }
  echo "build-deb: lintian: no errors"
else
  echo "build-deb: lintian not installed (apt-get install lintian): the .deb was not linted"
fi
