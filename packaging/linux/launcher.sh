#!/bin/sh
# /usr/bin/inspector: the frozen app lives in /opt/inspector (a PyInstaller onedir bundle).
exec /opt/inspector/inspector "$@"
