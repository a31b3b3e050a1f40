#!/usr/bin/env bash
# Build Inspector for macOS: Inspector.app from the shared spec, smoke-tested, then a .dmg (hdiutil), into dist/.
#
#   packaging/macos/build-macos.sh      # on macOS 12+, with `pip install . pyinstaller` done in PYTHON (default python3)
#
# Optional signing and notarisation (skipped unless the variables are set; see packaging/README.md):
#   CODESIGN_IDENTITY="Developer ID Application: Name (TEAMID)"   sign the .app (hardened runtime) and the .dmg
#   NOTARY_PROFILE=inspector-notary                                 notarise the .dmg with `xcrun notarytool` (a keychain
#                                                                   profile made once by `xcrun notarytool store-credentials`)
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
VERSION=$("$PYTHON" -c "from importlib.metadata import version; print(version('inspector-3factor'))")
ARCH=$(uname -m)
APP=dist/Inspector.app
DMG=dist/Inspector-$VERSION-macos-$ARCH.dmg
started=$(date +%s)

rm -rf build/pyinstaller dist/inspector "$APP"
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/inspector.spec
echo "build-macos: pyinstaller took $(( $(date +%s) - started )) s; Inspector.app $(du -sm "$APP" | cut -f1) MB"

# Smoke test: the executable inside the .app answers --version and passes its self-test (offscreen, then the window).
"$APP/Contents/MacOS/inspector" --version
QT_QPA_PLATFORM=offscreen "$APP/Contents/MacOS/inspector" self-test --gui

if [ -n "${CODESIGN_IDENTITY:-}" ]; then
  # Hardened runtime is required for notarisation; Python needs no extra entitlements for what Inspector does.
  codesign --force --deep --options runtime --timestamp --sign "$CODESIGN_IDENTITY" "$APP"
  codesign --verify --deep --strict --verbose=2 "$APP"
fi

# The .dmg: the app and a link to /Applications, compressed (UDZO).
STAGE=build/dmg
rm -rf "$STAGE" "$DMG" && mkdir -p "$STAGE"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname "Inspector $VERSION" -srcfolder "$STAGE" -ov -format UDZO "$DMG"

if [ -n "${CODESIGN_IDENTITY:-}" ]; then
  codesign --force --timestamp --sign "$CODESIGN_IDENTITY" "$DMG"
fi
if [ -n "${NOTARY_PROFILE:-}" ]; then
  xcrun notarytool submit "$DMG" --keychain-profile "$NOTARY_PROFILE" --wait
  xcrun stapler staple "$DMG"
fi

echo "build-macos: done in $(( $(date +%s) - started )) s; $DMG $(du -m "$DMG" | cut -f1) MB"
