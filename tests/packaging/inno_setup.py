"""A syntax check of Inno Setup 6 scripts (`packaging/windows/inspector.iss`) for a machine without `iscc`.

Not a test module: tests/packaging/test_windows_macos.py uses it. It checks what iscc would reject before compiling:
unknown sections; `[Setup]` lines that are not `Directive=value` or name an unknown directive; entry lines of the
other sections that are not `Parameter: value; ...` lists, name a parameter the section does not have, or miss a
required one; unbalanced double quotes (Inno doubles a quote inside a quoted value); unknown flags; `Tasks:` naming a
task `[Tasks]` does not define; ISPP `#if…/#endif` nesting and `{#Name}` uses of names never `#define`d; and files
the script reads at compile time (`SetupIconFile`, the license) that do not exist. The parameter and flag names are
from Inno Setup 6's help ("[Files] section", "[Registry] section", ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SETUP_DIRECTIVES = {
    "AppId",
    "AppName",
    "AppVersion",
    "AppVerName",
    "AppPublisher",
    "AppPublisherURL",
    "AppSupportURL",
    "AppUpdatesURL",
    "DefaultDirName",
    "DefaultGroupName",
    "DisableProgramGroupPage",
    "DisableDirPage",
    "PrivilegesRequired",
    "PrivilegesRequiredOverridesAllowed",
    "ArchitecturesAllowed",
    "ArchitecturesInstallIn64BitMode",
    "ChangesAssociations",
    "ChangesEnvironment",
    "OutputDir",
    "OutputBaseFilename",
    "SetupIconFile",
    "UninstallDisplayIcon",
    "UninstallDisplayName",
    "Compression",
    "SolidCompression",
    "WizardStyle",
    "LicenseFile",
    "InfoBeforeFile",
    "SignTool",
    "SignedUninstaller",
    "MinVersion",
    "CloseApplications",
    "RestartApplications",
    "VersionInfoVersion",
    "AppCopyright",
    "SourceDir",
    "UsedUserAreasWarning",
}
COMMON = {
    "Languages",
    "MinVersion",
    "OnlyBelowVersion",
    "BeforeInstall",
    "AfterInstall",
    "Check",
    "Components",
    "Tasks",
}
SECTIONS: dict[str, tuple[set[str], set[str]]] = {
    # section: (parameters, required parameters)
    "Tasks": (
        {"Name", "Description", "GroupDescription", "Flags", "Components", "Languages", "Check"},
        {"Name", "Description"},
    ),
    "Files": (
        {
            "Source",
            "DestDir",
            "DestName",
            "Excludes",
            "ExternalSize",
            "CopyMode",
            "Attribs",
            "Permissions",
            "FontInstall",
            "StrongAssemblyName",
            "Flags",
            *COMMON,
        },
        {"Source", "DestDir"},
    ),
    "Icons": (
        {
            "Name",
            "Filename",
            "Parameters",
            "WorkingDir",
            "HotKey",
            "Comment",
            "IconFilename",
            "IconIndex",
            "AppUserModelID",
            "Flags",
            *COMMON,
        },
        {"Name", "Filename"},
    ),
    "Registry": (
        {"Root", "Subkey", "ValueType", "ValueName", "ValueData", "Permissions", "Flags", *COMMON},
        {"Root", "Subkey"},
    ),
    "Run": (
        {"Filename", "Description", "Parameters", "WorkingDir", "StatusMsg", "RunOnceId", "Verb", "Flags", *COMMON},
        {"Filename"},
    ),
    "UninstallRun": ({"Filename", "Parameters", "WorkingDir", "RunOnceId", "Verb", "Flags", *COMMON}, {"Filename"}),
    "UninstallDelete": ({"Type", "Name", *COMMON}, {"Type", "Name"}),
    "InstallDelete": ({"Type", "Name", *COMMON}, {"Type", "Name"}),
    "Dirs": ({"Name", "Attribs", "Permissions", "Flags", *COMMON}, {"Name"}),
}
FLAGS = {
    "Tasks": {"checkedonce", "dontinheritcheck", "exclusive", "restart", "unchecked"},
    "Files": {
        "ignoreversion",
        "recursesubdirs",
        "createallsubdirs",
        "replacesameversion",
        "restartreplace",
        "uninsneveruninstall",
        "onlyifdoesntexist",
        "confirmoverwrite",
        "isreadme",
        "skipifsourcedoesntexist",
        "external",
        "solidbreak",
        "sortfilesbyextension",
        "64bit",
        "32bit",
        "deleteafterinstall",
    },
    "Icons": {
        "createonlyiffileexists",
        "dontcloseonexit",
        "excludefromshowinnewinstall",
        "foldershortcut",
        "preventpinning",
        "runmaximized",
        "runminimized",
        "uninsneveruninstall",
        "useapppaths",
    },
    "Registry": {
        "createvalueifdoesntexist",
        "deletekey",
        "deletevalue",
        "dontcreatekey",
        "noerror",
        "preservestringtype",
        "uninsclearvalue",
        "uninsdeletekey",
        "uninsdeletekeyifempty",
        "uninsdeletevalue",
        "uninsneveruninstall",
        "64bit",
        "32bit",
    },
    "Run": {
        "nowait",
        "postinstall",
        "skipifsilent",
        "skipifnotsilent",
        "runascurrentuser",
        "runasoriginaluser",
        "shellexec",
        "unchecked",
        "waituntilidle",
        "waituntilterminated",
        "hidewizard",
        "runhidden",
        "runmaximized",
        "runminimized",
        "64bit",
        "32bit",
    },
}
REGISTRY_ROOTS = {"HKA", "HKCU", "HKLM", "HKCR", "HKU", "HKCC", "HKA64", "HKLM64", "HKCU64", "HKA32", "HKLM32"}
VALUE_TYPES = {"none", "string", "expandsz", "multisz", "dword", "qword", "binary"}


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)
    sections: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    setup: dict[str, str] = field(default_factory=dict)
    defines: dict[str, str] = field(default_factory=dict)


def split_parameters(line: str) -> list[str] | None:
    """`A: "x; y"; B: z` -> ['A: "x; y"', 'B: z']; None when a quoted value is not closed."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted  # a doubled quote toggles twice: still inside
        if char == ";" and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if quoted:
        return None
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('""', '"')
    return value


def check(path: Path) -> Report:
    report = Report()
    section: str | None = None
    depth = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        where = f"{path.name}:{number}"
        if not line or line.startswith(";") or line.startswith("//"):
            continue
        if line.startswith("#"):
            word, _, rest = line[1:].partition(" ")
            if word in ("if", "ifdef", "ifndef"):
                depth += 1
            elif word == "endif":
                depth -= 1
                if depth < 0:
                    report.errors.append(f"{where}: #endif without #if")
            elif word == "define":
                name, _, value = rest.strip().partition(" ")
                report.defines[name] = unquote(value.strip())
            elif word not in ("else", "elif", "include", "pragma", "undef", "error", "emit"):
                report.errors.append(f"{where}: unknown preprocessor directive #{word}")
            continue
        for used in re.findall(r"\{#(\w+)\}", line):
            if used not in report.defines:
                report.errors.append(f"{where}: {{#{used}}} is not #define'd before this line")
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            if (
                section != "Setup"
                and section not in SECTIONS
                and section not in ("Code", "Languages", "Messages", "CustomMessages")
            ):
                report.errors.append(f"{where}: unknown section [{section}]")
            report.sections.setdefault(section, [])
            continue
        if section is None:
            report.errors.append(f"{where}: text before the first section")
        elif section == "Setup":
            directive, equals, value = line.partition("=")
            if not equals:
                report.errors.append(f"{where}: [Setup] lines are Directive=value")
            elif directive.strip() not in SETUP_DIRECTIVES:
                report.errors.append(f"{where}: unknown [Setup] directive {directive.strip()}")
            else:
                report.setup[directive.strip()] = value.strip()
        elif section in SECTIONS:
            parameters, required = SECTIONS[section]
            parts = split_parameters(line)
            if parts is None:
                report.errors.append(f"{where}: unbalanced double quotes")
                continue
            entry: dict[str, str] = {}
            for part in parts:
                name, colon, value = part.partition(":")
                if not colon or not re.fullmatch(r"[A-Za-z]+", name.strip()):
                    report.errors.append(f"{where}: {part!r} is not `Parameter: value`")
                    continue
                if name.strip() not in parameters:
                    report.errors.append(f"{where}: [{section}] has no parameter {name.strip()}")
                entry[name.strip()] = unquote(value.strip())
            for name in required - entry.keys():
                report.errors.append(f"{where}: [{section}] entry without {name}")
            for flag in entry.get("Flags", "").split():
                if flag not in FLAGS.get(section, set()):
                    report.errors.append(f"{where}: unknown [{section}] flag {flag}")
            if section == "Registry":
                if entry.get("Root") not in REGISTRY_ROOTS:
                    report.errors.append(f"{where}: unknown registry root {entry.get('Root')}")
                if "ValueType" in entry and entry["ValueType"] not in VALUE_TYPES:
                    report.errors.append(f"{where}: unknown ValueType {entry['ValueType']}")
            entry["_where"] = where
            report.sections[section].append(entry)
    if depth != 0:
        report.errors.append(f"{path.name}: {depth} #if without #endif")
    tasks = {entry["Name"] for entry in report.sections.get("Tasks", [])}
    for section, entries in report.sections.items():
        for entry in entries:
            for task in re.split(r"[\s,]+|\bnot\b|\band\b|\bor\b", entry.get("Tasks", "")):
                if task.strip("() ") and task.strip("() ") not in tasks:
                    report.errors.append(f"{entry['_where']}: [{section}] names an undefined task {task}")
    for directive in ("SetupIconFile", "LicenseFile", "InfoBeforeFile"):
        if directive in report.setup:
            compiled_from = path.parent / report.setup[directive].replace("\\", "/")
            if not compiled_from.is_file():
                report.errors.append(f"{path.name}: {directive} {report.setup[directive]} does not exist")
    return report
