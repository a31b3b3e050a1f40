"""The installers. On every run: the wheel (built twice from a copy of this tree, byte-identical with
SOURCE_DATE_EPOCH set, with the project's metadata, entry point and resources inside) installed into a fresh venv
where `inspector --version` and `inspector self-test` pass, as a `pipx install` of it would; and checks of the Linux
packaging files. With INSPECTOR_BUILD_TESTS=1 (about 5 min; needs dpkg-deb, strip and the package index):
`packaging/build-linux.sh` on its own (sdist, wheel, bundle, tarball, .deb, lintian when installed), and the .deb
installed into a throwaway root where `/usr/bin/inspector self-test` passes and `dpkg -r` leaves nothing behind.

The Windows and macOS recipes and the release workflow are checked in tests/packaging/.
"""

from __future__ import annotations

import email
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
BUILD = os.environ.get("INSPECTOR_BUILD_TESTS") == "1"
DIST_NAME = "inspector-3factor"
# Any fixed time: the wheel's bytes must not depend on when or where it is built.
SOURCE_DATE_EPOCH = "1700000000"
RESOURCES = (
    "inspector/resources/icons/inspector-256.png",
    "inspector/resources/icons/inspector-512.png",
    "inspector/resources/icons/inspector.ico",
    "inspector/resources/icons/inspector.icns",
    "inspector/resources/samples/order-chain.inspector",
)


def test_linux_packaging_files_agree_on_the_capture_extension_and_the_app() -> None:
    assert "*.inspector" in (PACKAGING / "linux" / "inspector-mime.xml").read_text()
    desktop = (PACKAGING / "linux" / "inspector.desktop").read_text()
    assert "MimeType=application/x-inspector-capture;" in desktop and "Exec=inspector %f" in desktop
    assert "exec /usr/lib/inspector/inspector" in (PACKAGING / "linux" / "launcher.sh").read_text()
    for path in ("build-linux.sh", "linux/build-deb.sh", "macos/build-macos.sh", "linux/launcher.sh"):
        assert os.access(PACKAGING / path, os.X_OK), path


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux build script")
def test_build_linux_names_a_missing_tool_and_exits_3_before_building(tmp_path: Path) -> None:
    # a PATH with everything the script needs but strip
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "dpkg-deb", "ldd", "gzip", "git", "date", "cat", "sha256sum", "cut"):
        if found := shutil.which(tool):
            (bin_dir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir), "PYTHON": sys.executable}
    run = subprocess.run(
        [str(bin_dir / "bash"), str(PACKAGING / "build-linux.sh")], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 3, run.stdout + run.stderr
    assert "strip not found; install binutils" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "build").exists()


def _copy_of_the_tree(destination: Path) -> Path:
    """What a fresh clone has of the files the wheel is built from (no caches, no build directories)."""
    destination.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, destination / name)
    shutil.copytree(
        ROOT / "inspector", destination / "inspector", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return destination


def _build_wheel(source: Path, out: Path) -> Path:
    """`pip wheel` (pip is in every venv; `python -m build` does the same through the same backend)."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (wheel,) = out.glob("inspector_3factor-*-py3-none-any.whl")
    return wheel


def _metadata(wheel: Path) -> tuple[email.message.Message, str, list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    return metadata, entry_points, names


def _venv_with_the_test_environments_packages(venv: Path) -> Path:
    """A fresh venv whose own site-packages comes first and which sees this environment's packages after it (a .pth
    file), so installing the wheel needs no download: a plain venv would fetch PySide6 again (about 150 MB, 40-60 s
    here from pip's cache, longer from the index). `--no-index` at install time proves nothing is fetched; the
    dependencies must still be satisfied, or pip fails."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "_inspector_test_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return python


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(sys.platform == "win32", reason="the venv layout below is POSIX's")
def test_the_wheel_is_reproducible_complete_and_self_tests_once_installed(tmp_path: Path) -> None:
    first = _build_wheel(_copy_of_the_tree(tmp_path / "src1"), tmp_path / "dist1")
    second = _build_wheel(_copy_of_the_tree(tmp_path / "src2"), tmp_path / "dist2")
    assert first.name == second.name
    assert first.read_bytes() == second.read_bytes(), "two builds of the same tree differ (SOURCE_DATE_EPOCH)"

    metadata, entry_points, names = _metadata(first)
    assert metadata["Name"] == DIST_NAME and metadata["License-Expression"] == "MIT"
    assert metadata["Description-Content-Type"] == "text/markdown"
    description = metadata.get_payload()
    assert isinstance(description, str) and description.lstrip().startswith("# Inspector")  # README on PyPI
    classifiers = metadata.get_all("Classifier") or []
    assert "Environment :: X11 Applications :: Qt" in classifiers and "Typing :: Typed" in classifiers
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues"} <= urls.keys()
    assert metadata["Requires-Python"] == ">=3.11" and any(
        req.startswith("PySide6-Essentials") for req in metadata.get_all("Requires-Dist") or []
    )
    assert "inspector = inspector.cli:main" in entry_points
    for resource in (*RESOURCES, "inspector/py.typed"):
        assert resource in names, resource
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert not [name for name in names if name.startswith("tests/") or "__pycache__" in name]

    python = _venv_with_the_test_environments_packages(tmp_path / "venv")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "--quiet", str(first)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    inspector = tmp_path / "venv" / "bin" / "inspector"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)
    version = subprocess.run([str(inspector), "--version"], capture_output=True, text=True, env=env, timeout=60)
    assert version.stdout.strip() == f"inspector {metadata['Version']}", version.stdout + version.stderr
    # from a directory outside the checkout, so nothing but the installed wheel can be imported
    test = subprocess.run(
        [str(inspector), "self-test"], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
    )
    assert test.returncode == 0 and "self-test passed" in test.stdout, test.stdout + test.stderr
    installed = tmp_path / "venv" / "lib"
    resources = re.search(r"resources: (\S+); sample captures: (\d+)", test.stdout)
    assert resources and Path(resources.group(1)).is_relative_to(installed) and int(resources.group(2)) >= 1, (
        test.stdout
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not BUILD, reason="the Linux build takes about 5 min: set INSPECTOR_BUILD_TESTS=1 to run it")
def test_build_linux_alone_makes_the_sdist_wheel_bundle_tarball_and_deb(tmp_path: Path) -> None:
    if not (sys.platform.startswith("linux") and shutil.which("dpkg-deb") and shutil.which("strip")):
        pytest.skip("needs Linux, dpkg-deb and strip")
    env = {**os.environ, "PYTHON": sys.executable, "QT_QPA_PLATFORM": "offscreen"}
    build = subprocess.run(
        ["bash", str(PACKAGING / "build-linux.sh")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=850
    )
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    assert "self-test passed" in build.stdout and "100.0 %  the bundle" in build.stdout
    assert "Traceback" not in build.stdout + build.stderr
    if shutil.which("lintian"):
        assert "build-deb: lintian: no errors" in build.stdout
    dist = ROOT / "dist"
    (wheel,) = dist.glob("inspector_3factor-*-py3-none-any.whl")
    version = _metadata(wheel)[0]["Version"]
    assert (dist / f"inspector_3factor-{version}.tar.gz").is_file()
    bundle = dist / "inspector" / "inspector"
    answer = subprocess.run([str(bundle), "--version"], capture_output=True, text=True, timeout=60)
    assert answer.stdout.strip() == f"inspector {version}"
    size_mb = sum(p.stat().st_size for p in bundle.parent.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20
    assert size_mb <= 150, f"the bundle is {size_mb:.0f} MB, over the goal of 150 MB"
    assert list(dist.glob(f"inspector-{version}-linux-*.tar.gz"))
    (deb,) = dist.glob(f"inspector_{version}_*.deb")
    info = subprocess.run(["dpkg-deb", "--info", str(deb)], capture_output=True, text=True, check=True).stdout
    depends = re.search(r"Depends: (.*)", info)
    assert depends and all(lib in depends.group(1) for lib in ("libgl1", "libegl1", "libxkbcommon0", "libxcb-cursor0"))
    contents = subprocess.run(["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True).stdout
    for path in (
        "./usr/bin/inspector",
        "./usr/share/applications/inspector.desktop",
        "./usr/share/mime/packages/inspector.xml",
        "./usr/share/icons/hicolor/256x256/apps/inspector.png",
        "./usr/share/doc/inspector/copyright",
        "./usr/share/doc/inspector/changelog.gz",
        "./usr/lib/inspector/_internal/inspector/resources/samples/order-chain.inspector",
    ):
        assert path in contents, path


def _can_mount_in_a_namespace() -> bool:
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(not BUILD, reason="needs the .deb from the build (INSPECTOR_BUILD_TESTS=1)")
def test_the_deb_installs_into_a_throwaway_root_self_tests_and_removes_cleanly(tmp_path: Path) -> None:
    debs = sorted((ROOT / "dist").glob("inspector_*.deb"))
    if not debs:
        pytest.skip("no .deb in dist/ (run packaging/build-linux.sh, or the build test before this one)")
    if not (os.geteuid() == 0 and shutil.which("dpkg") and shutil.which("unshare") and _can_mount_in_a_namespace()):
        pytest.skip("needs root, dpkg and unshare (a mount namespace) to install into a throwaway root")
    root = tmp_path / "root"
    for directory in ("var/lib/dpkg/updates", "var/lib/dpkg/info", "var/lib/dpkg/triggers"):
        (root / directory).mkdir(parents=True)
    (root / "var/lib/dpkg/status").touch()
    dpkg = ["dpkg", f"--root={root}", "--force-script-chrootless", "--log=/dev/null"]
    # The throwaway root has no packages, so the Depends (Qt's system libraries, present on the host) are forced.
    install = subprocess.run([*dpkg, "--force-depends", "-i", str(debs[-1])], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    assert (root / "usr/bin/inspector").is_file() and (root / "usr/lib/inspector/inspector").is_file()
    # The installed /usr/bin/inspector, with the package's /usr laid over the host's (a private mount namespace:
    # nothing changes outside this process).
    script = (
        f"mount -t overlay overlay -o lowerdir={root}/usr:/usr /usr && "
        "/usr/bin/inspector --version && /usr/bin/inspector self-test"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 0 and "self-test passed" in run.stdout, run.stdout + run.stderr
    assert "resources: /usr/lib/inspector/_internal/inspector/resources" in run.stdout
    remove = subprocess.run([*dpkg, "--purge", "inspector"], capture_output=True, text=True)
    assert remove.returncode == 0, remove.stdout + remove.stderr
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_relative_to(root / "var"))
    assert left == [], f"dpkg -r left behind: {left[:20]}"
