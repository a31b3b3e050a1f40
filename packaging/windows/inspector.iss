; Inno Setup 6 script: Inspector's Windows installer (setup .exe) from the PyInstaller onedir bundle.
;
;   pyinstaller --noconfirm --distpath dist --workpath build\pyinstaller packaging\inspector.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\inspector.iss        -> dist\inspector-0.1.0-windows-setup.exe
;
; Installs per machine (or per user when not elevated), adds a Start-menu entry, an optional desktop icon, opens
; *.inspector capture files with Inspector, and registers an uninstaller (Settings > Apps) that removes all of it.
; Signing (optional): add SignTool=... (see packaging/README.md).

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#define AppName "Inspector"
#define AppExe "inspector.exe"
#define SourceDir "..\..\dist\inspector"

[Setup]
AppId={{7C1E3A52-5B0B-4E0B-9C7A-3F2E6A1D9B41}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Inspector developers
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
ChangesAssociations=yes
OutputDir=..\..\dist
OutputBaseFilename=inspector-{#AppVersion}-windows-setup
SetupIconFile=..\..\inspector\resources\icons\inspector.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName} {#AppVersion}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "associate"; Description: "Open Inspector capture files (*.inspector) with Inspector"; GroupDescription: "File types:"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{group}\{#AppName} demo"; Filename: "{app}\{#AppExe}"; Parameters: "demo"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Registry]
; The file association: .inspector -> Inspector.Capture -> "inspector.exe" "%1" (removed by the uninstaller).
Root: HKA; Subkey: "Software\Classes\.inspector"; ValueType: string; ValueName: ""; ValueData: "Inspector.Capture"; Flags: uninsdeletevalue; Tasks: associate
Root: HKA; Subkey: "Software\Classes\.inspector\OpenWithProgids"; ValueType: string; ValueName: "Inspector.Capture"; ValueData: ""; Flags: uninsdeletevalue; Tasks: associate
Root: HKA; Subkey: "Software\Classes\Inspector.Capture"; ValueType: string; ValueName: ""; ValueData: "Inspector capture"; Flags: uninsdeletekey; Tasks: associate
Root: HKA; Subkey: "Software\Classes\Inspector.Capture\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"; Tasks: associate
Root: HKA; Subkey: "Software\Classes\Inspector.Capture\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""; Tasks: associate
Root: HKA; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: ".inspector"; ValueData: ""; Flags: uninsdeletekey

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
Type: filesandordirs; Name: "{app}"
