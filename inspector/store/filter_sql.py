"""Display filters compiled to SQL for the capture's SQLite store.

Owns turning a filter (text or a checked tree from `inspector.core.filter`) into a parameterised predicate over
`events e`, and the SQL functions such a predicate calls (`register_functions`). Used by the capture file, replay
records, the event list model, the CLI and analysis.

Interim: this first version re-exports the compiler still living in `inspector.core.filter` so that callers can move
to this import path now; the compiler itself moves here next.
"""

from __future__ import annotations

from inspector.core.filter import CompiledFilter, FilterError, compile_filter, register_functions

__all__ = ["CompiledFilter", "FilterError", "compile_filter", "register_functions"]
