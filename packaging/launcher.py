"""The frozen app's entry script (PyInstaller runs this file, not the console-script wrapper)."""

import multiprocessing

from inspector.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    raise SystemExit(main())
