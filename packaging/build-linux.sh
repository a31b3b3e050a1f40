#!/usr/bin/env bash
# Build Inspector for Linux: the PyInstaller onedir bundle, a .tar.gz and a .deb, into dist/; then smoke-test it.
#
#   packaging/build-linux.sh            # needs `pip install . pyinstaller` in the current Python (or PYTHON=...)
#
# Environment: PYTHON (default: python3), SKIP_SMOKE=1 to skip the smoke test, ARCH (default: dpkg's architecture).
# Outputs: dist/inspector/ (the bundle), dist/inspector-VERSION-linux-ARCH.tar.gz, dist/inspector_VERSION_ARCH.deb.
# Nothing is downloaded: PyInstaller works from the installed packages.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}

VERSION=$("$PYTHON" -c "from importlib.metadata import version; print(version('inspector-3factor'))")
ARCH=${ARCH:-$(dpkg --print-architecture 2>/dev/null || uname -m)}
case "$ARCH" in x86_64) DEB_ARCH=amd64 ;; aarch64) DEB_ARCH=arm64 ;; *) DEB_ARCH=$ARCH ;; esac
echo "build-linux: Inspector $VERSION for $ARCH"
started=$(date +%s)

# 1. The bundle.
rm -rf build/pyinstaller dist/inspector
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/inspector.spec
built=$(date +%s)
BUNDLE=dist/inspector
echo "build-linux: pyinstaller took $((built - started)) s; bundle $(du -sm "$BUNDLE" | cut -f1) MB before strip"

# 2. Strip the shared libraries (debug symbols are most of some Qt libraries' size).
if command -v strip >/dev/null; then
  find "$BUNDLE" -type f \( -name '*.so' -o -name '*.so.*' \) -print0 | xargs -0 -r strip --strip-unneeded 2>/dev/null || true
else
  echo "build-linux: warning: no strip (install binutils): the bundle keeps its debug symbols (about 40 MB more)"
fi
echo "build-linux: bundle $(du -sm "$BUNDLE" | cut -f1) MB after strip"

# Libraries the bundle needs from the system (the .deb's Depends must cover them): none may be missing.
missing=$(find "$BUNDLE" -type f \( -name '*.so*' -o -name inspector \) -exec ldd {} + 2>/dev/null \
  | grep 'not found' | grep -v -E 'libQt6|libpyside|libshiboken' | sort -u || true)
if [ -n "$missing" ]; then
  echo "build-linux: system libraries missing on this machine (install them, and check the .deb's Depends):"
  echo "$missing"
fi

# 3. Smoke test: the frozen app answers --version and runs its self-test (sandbox + capture + window, offscreen).
if [ "${SKIP_SMOKE:-0}" != 1 ]; then
  "$BUNDLE/inspector" --version
  "$BUNDLE/inspector" self-test --gui
fi

# 4. The tarball: inspector-VERSION/ with the bundle, the desktop entry, the MIME type and the icon.
TAR_ROOT=build/tar/inspector-$VERSION
rm -rf build/tar && mkdir -p "$TAR_ROOT"
cp -a "$BUNDLE"/. "$TAR_ROOT/"
cp packaging/linux/inspector.desktop packaging/linux/inspector-mime.xml "$TAR_ROOT/"
cp resources/icons/inspector-256.png "$TAR_ROOT/inspector.png"
TARBALL=dist/inspector-$VERSION-linux-$ARCH.tar.gz
tar -C build/tar -czf "$TARBALL" "inspector-$VERSION"

# 5. The .deb: /opt/inspector (the bundle), /usr/bin/inspector, desktop entry, icons, MIME type for *.inspector.
PKG=build/deb/inspector_${VERSION}_$DEB_ARCH
rm -rf build/deb && mkdir -p "$PKG/DEBIAN" "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications" \
  "$PKG/usr/share/mime/packages" "$PKG/usr/share/icons/hicolor/256x256/apps" "$PKG/usr/share/icons/hicolor/512x512/apps" \
  "$PKG/usr/share/doc/inspector"
cp -a "$BUNDLE" "$PKG/opt/inspector"
install -m 0755 packaging/linux/launcher.sh "$PKG/usr/bin/inspector"
install -m 0644 packaging/linux/inspector.desktop "$PKG/usr/share/applications/inspector.desktop"
install -m 0644 packaging/linux/inspector-mime.xml "$PKG/usr/share/mime/packages/inspector.xml"
install -m 0644 resources/icons/inspector-256.png "$PKG/usr/share/icons/hicolor/256x256/apps/inspector.png"
install -m 0644 resources/icons/inspector-512.png "$PKG/usr/share/icons/hicolor/512x512/apps/inspector.png"
printf 'Inspector %s\nLicense: MIT\nSource: the Inspector repository (README.md)\n' "$VERSION" \
  >"$PKG/usr/share/doc/inspector/copyright"
installed_kb=$(du -sk "$PKG" | cut -f1)
# The system libraries Qt needs (README "Requirements"): offscreen ones, then those for a real X display.
cat >"$PKG/DEBIAN/control" <<EOF
Package: inspector
Version: $VERSION
Section: devel
Priority: optional
Architecture: $DEB_ARCH
Maintainer: Inspector developers <inspector@localhost>
Installed-Size: $installed_kb
Depends: libc6 (>= 2.34), libgl1, libegl1, libxkbcommon0, libfontconfig1, libfreetype6, libglib2.0-0t64 | libglib2.0-0, libdbus-1-3, libx11-6, libx11-xcb1, libxcb1, libxkbcommon-x11-0, libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-shape0, libxcb-render-util0, libxcb-image0, libxcb-randr0, libxcb-xfixes0, libxcb-xkb1, libxcb-sync1, libxcb-shm0, libxcb-render0, libxcb-glx0
Recommends: fonts-dejavu-core, shared-mime-info, desktop-file-utils
Description: desktop debugger for event-driven 3factor backends
 Inspector captures a Hasura backend's event triggers, handler invocations and
 GraphQL subscriptions into a capture file (*.inspector), shows them as
 Wireshark shows packets, analyses delivery anomalies and replays events.
 Run "inspector self-test" to check an installation.
EOF
cat >"$PKG/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if command -v update-mime-database >/dev/null; then update-mime-database /usr/share/mime || true; fi
if command -v update-desktop-database >/dev/null; then update-desktop-database -q /usr/share/applications || true; fi
if command -v gtk-update-icon-cache >/dev/null; then gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true; fi
EOF
cp "$PKG/DEBIAN/postinst" "$PKG/DEBIAN/postrm"
chmod 0755 "$PKG/DEBIAN/postinst" "$PKG/DEBIAN/postrm"
DEB=dist/inspector_${VERSION}_$DEB_ARCH.deb
dpkg-deb --root-owner-group -Zxz --build "$PKG" "$DEB" >/dev/null
dpkg-deb --info "$DEB" | sed -n '1,12p'

finished=$(date +%s)
echo "build-linux: done in $((finished - started)) s"
echo "build-linux: bundle  $(du -sm "$BUNDLE" | cut -f1) MB  ($ROOT/$BUNDLE)"
echo "build-linux: tarball $(du -m "$TARBALL" | cut -f1) MB  ($ROOT/$TARBALL)"
echo "build-linux: deb     $(du -m "$DEB" | cut -f1) MB  ($ROOT/$DEB)"
