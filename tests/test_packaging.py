"""The installers: the Linux build and its smoke test (only with INSPECTOR_BUILD_TESTS=1: it takes ~100 s and
needs PyInstaller, dpkg-deb and strip), and checks of the packaging files that need no build."""

from __future__ import annotations

import os
import plistlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
BUILD = os.environ.get("INSPECTOR_BUILD_TESTS") == "1"


def test_packaging_files_agree_on_the_capture_extension_and_the_app() -> None:
    info = plistlib.loads((PACKAGING / "macos" / "Info.plist").read_bytes())
    doc = info["CFBundleDocumentTypes"][0]
    assert doc["CFBundleTypeExtensions"] == ["inspector"] and info["CFBundleExecutable"] == "inspector"
    assert info["UTExportedTypeDeclarations"][0]["UTTypeTagSpecification"]["public.filename-extension"] == ["inspector"]
    iss = (PACKAGING / "windows" / "inspector.iss").read_text()
    assert ".inspector" in iss and "{group}" in iss and "Uninstall" in iss
    assert "self-test" in (ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert "*.inspector" in (PACKAGING / "linux" / "inspector-mime.xml").read_text()
    desktop = (PACKAGING / "linux" / "inspector.desktop").read_text()
    assert "MimeType=application/x-inspector-capture;" in desktop and "Exec=inspector %f" in desktop
    for path in ("build-linux.sh", "macos/build-macos.sh", "linux/launcher.sh"):
        assert os.access(PACKAGING / path, os.X_OK), path


def _pyinstaller_available() -> bool:
    return subprocess.run([sys.executable, "-c", "import PyInstaller"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not BUILD, reason="the Linux build takes about a minute: set INSPECTOR_BUILD_TESTS=1 to run it")
def test_linux_build_makes_a_bundle_tarball_and_deb_that_pass_the_smoke_test(tmp_path: Path) -> None:
    if not (_pyinstaller_available() and shutil.which("dpkg-deb") and sys.platform.startswith("linux")):
        pytest.skip("needs Linux, PyInstaller in this Python and dpkg-deb")
    env = {**os.environ, "PYTHON": sys.executable, "QT_QPA_PLATFORM": "offscreen"}
    build = subprocess.run(
        ["bash", str(PACKAGING / "build-linux.sh")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=850
    )
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    assert "self-test passed" in build.stdout
    from importlib.metadata import version

    ver = version("inspector-3factor")
    bundle = ROOT / "dist" / "inspector" / "inspector"
    answer = subprocess.run([str(bundle), "--version"], capture_output=True, text=True, timeout=60)
    assert answer.stdout.strip() == f"inspector {ver}"
    size_mb = sum(p.stat().st_size for p in bundle.parent.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20
    assert size_mb <= 150, f"the bundle is {size_mb:.0f} MB, over the goal of 150 MB"
    debs = list((ROOT / "dist").glob(f"inspector_{ver}_*.deb"))
    assert len(debs) == 1
    info = subprocess.run(["dpkg-deb", "--info", str(debs[0])], capture_output=True, text=True, check=True).stdout
    depends = re.search(r"Depends: (.*)", info)
    assert depends and all(lib in depends.group(1) for lib in ("libgl1", "libegl1", "libxkbcommon0", "libxcb-cursor0"))
    contents = subprocess.run(["dpkg-deb", "--contents", str(debs[0])], capture_output=True, text=True).stdout
    for path in (
        "./usr/bin/inspector",
        "./usr/share/applications/inspector.desktop",
        "./usr/share/mime/packages/inspector.xml",
        "./usr/share/icons/hicolor/256x256/apps/inspector.png",
        "./opt/inspector/_internal/resources/samples/order-chain.inspector",
    ):
        assert path in contents, path
    # the unpacked .deb's app runs the smoke test too (where the package would put it, relative to the root)
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tmp_path)], check=True)
    run = subprocess.run(
        [str(tmp_path / "opt" / "inspector" / "inspector"), "self-test"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert run.returncode == 0 and "frozen: True" in run.stdout, run.stdout + run.stderr
    assert list((ROOT / "dist").glob(f"inspector-{ver}-linux-*.tar.gz"))
