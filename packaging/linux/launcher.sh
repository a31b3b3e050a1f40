#!/bin/sh
# /usr/bin/inspector: the frozen app lives in /usr/lib/inspector (a PyInstaller onedir bundle).
exec /usr/lib/inspector/inspector "$@"
