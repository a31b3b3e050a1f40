"""The Windows and macOS recipes, checked on Linux (no Windows or macOS machine here): the Inno Setup script's syntax
(tests/packaging/inno_setup.py) and its file association, the app's Info.plist (plistlib), the shared PyInstaller
spec executed as on Windows and macOS with PyInstaller's build classes recorded instead of run (inspector-cli.exe,
the icons, the .app's plist), and the code paths those platforms take into the app: the file association's
`inspector.exe "%1"`, the `-psn_` argument old macOS adds, and the frozen resources' place."""

from __future__ import annotations

import importlib
import importlib.util
import plistlib
import sys
import types
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from inspector.cli import self_test
from tests.packaging.inno_setup import check

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
ISS = PACKAGING / "windows" / "inspector.iss"


def test_the_inno_setup_script_has_no_syntax_errors() -> None:
    report = check(ISS)
    assert report.errors == []
    assert report.setup["ChangesAssociations"] == "yes" and report.setup["PrivilegesRequired"] == "lowest"
    assert report.defines["AppExe"] == "inspector.exe"
    assert {entry["Name"] for entry in report.sections["Tasks"]} == {"desktopicon", "associate"}
    [files] = report.sections["Files"]
    assert "recursesubdirs" in files["Flags"] and files["Source"] == "{#SourceDir}\\*"
    assert report.defines["SourceDir"] == "..\\..\\dist\\inspector"  # the spec's COLLECT(name="inspector")
    assert any(entry["Filename"] == "{uninstallexe}" for entry in report.sections["Icons"])


def test_the_checker_finds_what_iscc_would_reject(tmp_path: Path) -> None:
    bad = tmp_path / "bad.iss"
    bad.write_text(
        '#define AppExe "x.exe"\n[Setup]\nAppName=x\nAppNmae=typo\nSetupIconFile=missing.ico\n[Tasks]\n'
        'Name: "a"; Description: "A"\n[Files]\nSource: "{#Missing}"; DestDir: "{app}"; Flags: ignoreversoin\n'
        'Source: "x; DestDir: "{app}"\n[Icons]\nName: "x"; Filename: "{app}\\{#AppExe}"; Tasks: b\n[Bogus]\n#if 1\n'
    )
    errors = "\n".join(check(bad).errors)
    for expected in (
        "unknown [Setup] directive AppNmae",
        "{#Missing} is not #define'd",
        "unknown [Files] flag ignoreversoin",
        "unbalanced double quotes",
        "undefined task b",
        "unknown section [Bogus]",
        "#if without #endif",
        "SetupIconFile missing.ico does not exist",
    ):
        assert expected in errors


def test_the_installer_associates_captures_with_the_app_and_removes_the_association() -> None:
    registry = check(ISS).sections["Registry"]
    by_key = {entry["Subkey"]: entry for entry in registry}
    assert by_key["Software\\Classes\\.inspector"]["ValueData"] == "Inspector.Capture"
    command = by_key["Software\\Classes\\Inspector.Capture\\shell\\open\\command"]
    # Inno doubles quotes inside a quoted value: Windows runs `"C:\...\inspector.exe" "C:\...\order.inspector"`
    assert command["ValueData"] == '"{app}\\{#AppExe}" "%1"'
    assert "uninsdeletekey" in by_key["Software\\Classes\\Inspector.Capture"]["Flags"]
    assert all(entry["Root"] == "HKA" for entry in registry)  # per user without elevation, per machine with it


def test_the_plist_declares_the_capture_type_the_app_opens() -> None:
    info = plistlib.loads((PACKAGING / "macos" / "Info.plist").read_bytes())
    assert info["CFBundleExecutable"] == "inspector" and info["CFBundlePackageType"] == "APPL"
    assert (ROOT / "inspector" / "resources" / "icons" / info["CFBundleIconFile"]).is_file()
    [document] = info["CFBundleDocumentTypes"]
    [exported] = info["UTExportedTypeDeclarations"]
    assert document["CFBundleTypeExtensions"] == ["inspector"] and document["LSHandlerRank"] == "Owner"
    assert document["LSItemContentTypes"] == [exported["UTTypeIdentifier"]]
    assert exported["UTTypeIdentifier"].startswith(info["CFBundleIdentifier"].rsplit(".", 1)[0])
    assert exported["UTTypeTagSpecification"]["public.filename-extension"] == ["inspector"]
    assert "public.data" in exported["UTTypeConformsTo"]


class Recorded:
    """Stands for one of PyInstaller's build classes (Analysis, PYZ, EXE, COLLECT, BUNDLE): keeps its arguments."""

    made: list[Recorded]

    def __init__(self, kind: str, *args: Any, **kwargs: Any) -> None:
        self.kind, self.args, self.kwargs = kind, args, kwargs
        self.binaries: list[tuple[str, str, str]] = []
        self.datas: list[tuple[str, str, str]] = []
        self.pure: list[object] = []
        self.scripts: list[object] = []
        if kind == "Analysis":  # a few of what PyInstaller would collect, to see the filter at work
            self.binaries = [
                ("PySide6/Qt/lib/libQt6Widgets.so.6", "", "BINARY"),
                ("PySide6/Qt/lib/libQt6Quick.so.6", "", "BINARY"),
                ("PySide6/Qt/plugins/platforms/libqwayland-egl.so", "", "BINARY"),
                ("PySide6\\Qt6Qml.dll", "", "BINARY"),
                ("PySide6/Qt/lib/QtQuick.framework/QtQuick", "", "BINARY"),
                ("libgtk-3.so.0", "", "BINARY"),
            ]
            self.datas = [
                ("PySide6/Qt/translations/qtbase_en.qm", "", "DATA"),
                ("PySide6/Qt/translations/qtbase_de.qm", "", "DATA"),
                *kwargs["datas"],
            ]


def _run_spec(monkeypatch: pytest.MonkeyPatch, platform: str) -> list[Recorded]:
    made: list[Recorded] = []

    def builder(kind: str) -> Any:
        def make(*args: Any, **kwargs: Any) -> Recorded:
            made.append(Recorded(kind, *args, **kwargs))
            return made[-1]

        return make

    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_data_files = lambda package, includes=(): [(f"{package}/py.typed", package)]  # type: ignore[attr-defined]
    hooks.copy_metadata = lambda name: [(f"{name}.dist-info", f"{name}.dist-info")]  # type: ignore[attr-defined]
    hooks.collect_submodules = lambda package: [f"{package}.self_test"]  # type: ignore[attr-defined]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setattr(sys, "platform", platform)
    spec = PACKAGING / "inspector.spec"
    namespace: dict[str, Any] = {"SPECPATH": str(spec.parent), "__file__": str(spec)}
    namespace.update({kind: builder(kind) for kind in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")})
    exec(compile(spec.read_text(), str(spec), "exec"), namespace)
    return made


def test_the_spec_on_windows_makes_the_window_exe_and_its_console_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _run_spec(monkeypatch, "win32")
    executables = {exe.kwargs["name"]: exe.kwargs for exe in made if exe.kind == "EXE"}
    # inspector.exe has no console (a double-clicked capture opens no terminal); inspector-cli.exe prints --version
    # and self-test results (the release workflow runs it)
    assert executables["inspector"]["console"] is False and executables["inspector-cli"]["console"] is True
    icons = {Path(exe["icon"]) for exe in executables.values()}
    assert [icon.name for icon in icons] == ["inspector.ico"] and all(icon.is_file() for icon in icons)
    [collect] = [item for item in made if item.kind == "COLLECT"]
    assert collect.kwargs["name"] == "inspector" and len([a for a in collect.args if a in made]) == 2
    assert not [item for item in made if item.kind == "BUNDLE"]
    release = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert "dist\\inspector\\inspector-cli.exe self-test --gui" in release


def test_the_spec_on_macos_makes_the_app_with_the_plist_and_version(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _run_spec(monkeypatch, "darwin")
    [exe] = [item for item in made if item.kind == "EXE"]
    assert exe.kwargs["name"] == "inspector" and exe.kwargs["console"] is False
    assert exe.kwargs["argv_emulation"] is False  # files come as QFileOpenEvent (inspector/qt/window/file_open.py)
    [app] = [item for item in made if item.kind == "BUNDLE"]
    ours = version("inspector-3factor")
    info = app.kwargs["info_plist"]
    assert app.kwargs["name"] == "Inspector.app" and Path(app.kwargs["icon"]).name == "inspector.icns"
    assert info["CFBundleShortVersionString"] == ours == info["CFBundleVersion"] == app.kwargs["version"]
    assert app.kwargs["bundle_identifier"] == info["CFBundleIdentifier"]


def test_the_spec_ships_the_resources_and_leaves_out_unused_qt(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _run_spec(monkeypatch, "linux")
    [analysis] = [item for item in made if item.kind == "Analysis"]
    kept = {dest for dest, _, _ in analysis.binaries} | {dest for dest, *_ in analysis.datas}
    assert "PySide6/Qt/lib/libQt6Widgets.so.6" in kept and "PySide6/Qt/translations/qtbase_en.qm" in kept
    dropped = {
        "PySide6/Qt/lib/libQt6Quick.so.6",
        "PySide6\\Qt6Qml.dll",
        "libgtk-3.so.0",
        "PySide6/Qt/translations/qtbase_de.qm",
        "PySide6/Qt/lib/QtQuick.framework/QtQuick",
    }
    assert not kept & dropped
    resources = {dest: Path(source) for source, dest in analysis.kwargs["datas"] if "resources" in dest}
    assert resources["inspector/resources/samples"] == ROOT / "inspector" / "resources" / "samples"
    assert all(source.exists() for source in resources.values())
    [exe] = [item for item in made if item.kind == "EXE"]
    assert exe.kwargs["console"] is True and exe.kwargs["icon"] is None


def test_a_frozen_app_finds_its_resources_where_the_spec_puts_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "inspector" / "resources" / "samples").mkdir(parents=True)
    (tmp_path / "inspector" / "resources" / "samples" / "order-chain.inspector").touch()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert self_test.resources_dir() == tmp_path / "inspector" / "resources"
    assert [path.name for path in self_test.sample_captures()] == ["order-chain.inspector"]


@pytest.mark.parametrize(
    ("argv", "opened"),
    [
        # Windows: the association runs `inspector.exe "%1"` with a full path, spaces and all
        ([r"C:\Users\me\Captures\order chain.inspector"], r"C:\Users\me\Captures\order chain.inspector"),
        # Linux: the desktop entry's `Exec=inspector %f`
        (["/home/me/order.inspector"], "/home/me/order.inspector"),
        # macOS before 10.9 adds a process serial number to an app started from Finder: not a file
        (["-psn_0_12345"], None),
    ],
)
def test_a_capture_given_by_the_desktop_opens_in_the_window(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], opened: str | None
) -> None:
    import inspector.cli as cli

    # main() takes run_window from inspector.cli.window (or, before the CLI's split, from inspector.cli itself)
    split = importlib.util.find_spec("inspector.cli.window") is not None
    window = importlib.import_module("inspector.cli.window") if split else cli
    calls: list[str | None] = []

    def run_window(capture: str | None, demo: object = None, quit_after: float | None = None) -> int:
        calls.append(capture)
        return 0

    monkeypatch.setattr(window, "run_window", run_window)
    assert cli.main(argv) == 0
    assert calls == [opened]
