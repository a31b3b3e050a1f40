"""Inspector: a desktop debugger for event-driven 3factor backends."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("inspector-3factor")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
