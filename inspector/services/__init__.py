"""Use cases the command line and the window share: capture sessions, replay, delivery analysis, profiles.

GUI-free: services use `backends`, `store`, `sandbox` and `core`, never Qt."""
