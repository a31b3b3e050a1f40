"""List a PyInstaller onedir bundle's size and each part's share, largest first (packaging/build-linux.sh runs it).

    python packaging/bundle_sizes.py dist/inspector

A part is a top-level entry of the bundle's `_internal/` (PySide6 further split into Qt's libraries, plugins,
translations and the bindings, since it is most of the bundle), or an executable (the bootloader with the archive of
every Python module, Inspector's and the libraries', appended). Shared libraries that
PyInstaller collects loose into `_internal/` (OpenSSL, ICU, libpython, ...) are each a part. Symlinks are not counted.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def part_of(relative: Path) -> str:
    """The part a file of the bundle belongs to (its path relative to the bundle)."""
    parts = relative.parts
    if parts[0] != "_internal" or len(parts) == 1:
        # onedir: the executable carries the bootloader and the archive of all Python modules (PYZ)
        return f"{parts[0]} (executable: bootloader + Python modules)"
    if parts[1] == "PySide6" and len(parts) > 3 and parts[2] == "Qt":
        return f"PySide6/Qt/{parts[3]}"  # lib, plugins, translations
    if parts[1] == "PySide6":
        return "PySide6 (bindings)"
    return parts[1]


def sizes(bundle: Path) -> Counter[str]:
    totals: Counter[str] = Counter()
    for path in bundle.rglob("*"):
        if path.is_file() and not path.is_symlink():
            totals[part_of(path.relative_to(bundle))] += path.stat().st_size
    return totals


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not Path(argv[1]).is_dir():
        print(__doc__, file=sys.stderr)
        return 2
    totals = sizes(Path(argv[1]))
    whole = sum(totals.values())
    small = 0
    for name, size in totals.most_common():
        if size / whole < 0.01:
            small += 1
            continue
        print(f"  {size / 2**20:7.1f} MB  {100 * size / whole:5.1f} %  {name}")
    rest = sum(size for size in totals.values() if size / whole < 0.01)
    print(f"  {rest / 2**20:7.1f} MB  {100 * rest / whole:5.1f} %  {small} smaller parts (each under 1 %)")
    print(f"  {whole / 2**20:7.1f} MB  100.0 %  the bundle")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
