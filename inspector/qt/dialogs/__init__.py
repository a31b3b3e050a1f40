"""Dialogs: connection profiles, colouring rules, edit and replay."""
