"""The event list: a table model over a capture file's `events`, paged from SQLite.

Owns its own read connection to the capture, the list of rows the current display filter matches (only their `seq`
numbers, 8 bytes a row, in an `array('q')`), a bounded LRU cache of pages of rows (read with one query per page that
also works out each row's colouring rule and mark), the column registry, and the live tail (new events appended in
one batch per refresh). Used by the main window's event list (`QTableView`), with `LiveTail` keeping the view at the
bottom while the user follows a live capture.

Why pages by `seq` and not `LIMIT/OFFSET`: a page at offset 150,000 costs ~26 ms in SQLite, a page by key ~0.1 ms, and
a million rows must scroll smoothly. Why the matching `seq`s are loaded in slices of the rowid range (each its own
statement, each a few ms, run from a zero-delay timer): the first screenful shows after the first slice, the window
stays responsive while a slow JSON filter scans a million payloads, and no read transaction stays open between slices
(a long one would stop the capture's WAL from being checkpointed). `NOT INDEXED` keeps SQLite on the rowid range: with
an index on the filtered column it would walk the whole index once per slice.
"""

from __future__ import annotations

import bisect
import re
import sqlite3
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QTableView

from inspector.core.colouring import DEFAULT_RULES, ColourRule, compile_rules
from inspector.core.filter import CompiledFilter, FilterError, compile_filter, register_functions
from inspector.qt.roles import EVENT_ID_ROLE, MARKED_ROLE, ROW_ROLE, RULE_ROLE, SEQ_ROLE
from inspector.store.capture_file import CaptureFormatError

__all__ = ["COLUMNS", "DEFAULT_COLUMNS", "MAX_PAGES", "PAGE_SIZE", "Column", "EventTableModel", "LiveTail"]

PAGE_SIZE = 256
"""Rows read (and cached) together."""
MAX_PAGES = 64
"""Pages kept in the cache: at most 16,384 rows of display columns, whatever the size of the capture."""

_SLICE_TARGET = 0.008
"""Seconds one slice query of the loader should take; its span of seqs adapts to stay near it."""
_STEP_BUDGET = 0.025
"""Seconds of loading per timer tick, so the window keeps painting and answering input while a filter loads."""
_FIRST_STEP_BUDGET = 0.040
"""The first step (inside `set_filter`) stops early, after a screenful of rows, to show something fast."""
_MIN_SPAN, _FIRST_SPAN, _MAX_SPAN = 256, 4096, 1 << 20
_FETCH = 4096
"""Seqs fetched at a time from a sorted or indexed query."""
_PROBE_BUDGET = 0.010
"""Seconds the first step gives a filter SQLite answers from an index before showing a first screenful by slices."""
_INDEXED_PLAN = re.compile(
    r"SEARCH e USING (?:COVERING )?INDEX|SEARCH e USING INTEGER PRIMARY KEY \(rowid=\?\)|MULTI-INDEX OR"
)
"""`EXPLAIN QUERY PLAN` lines of a filter read from an index rather than by scanning the table."""
_ADMIT_LIMIT = 2000
"""Rows that came to match the filter (a status changed) inserted one by one; more than that reload the list."""

_Row = sqlite3.Row

_PAGE_FIELDS = (
    "seq",
    "id",
    "trigger_name",
    "schema_name",
    "table_name",
    "op",
    "created_at",
    "created_ts",
    "status",
    "error",
    "tries",
    "next_retry_at",
    "attempts",
    "successes",
    "first_attempt_ts",
    "delivered_ts",
    "last_http_status",
    "row_key",
    "trace_id",
    "flags",
)
"""What a cached row holds: every column but the payload (read on demand for `ROW_ROLE`)."""

_LATENCY_SQL = "((coalesce(e.delivered_ts, e.first_attempt_ts) - e.created_ts) * 1000.0)"


# --- columns ---------------------------------------------------------------------------------------------------------


@dataclass
class RenderContext:
    """What a column needs besides the row: where relative time counts from, and the row's position."""

    origin: float | None = None
    """Epoch seconds relative times count from: the time reference, else the first event of the capture."""
    row: int = 0


@dataclass(frozen=True)
class Column:
    """One column the event list can show."""

    key: str
    """Stable name, kept in settings."""
    header: str
    render: Callable[[_Row, RenderContext], str]
    """The cell text for a row."""
    sort_sql: str | None
    """An SQL expression over `events e` to sort by; None: the column cannot be sorted."""
    numeric: bool = False
    """Right-aligned."""
    shown: bool = True
    """Shown by default."""
    description: str = ""
    """The header's tooltip."""


def _local_time(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _time(row: _Row, _ctx: RenderContext) -> str:
    # Time of day keeps the column narrow; the tooltip (and the detail pane) give the date.
    ts = row["created_ts"]
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S.%f")[:-3] if ts is not None else str(row["created_at"] or "")


def _relative(row: _Row, ctx: RenderContext) -> str:
    ts = row["created_ts"]
    if ts is None or ctx.origin is None:
        return ""
    return f"{ts - ctx.origin:.3f}"


def _latency_ms(row: _Row) -> float | None:
    created = row["created_ts"]
    end = row["delivered_ts"] if row["delivered_ts"] is not None else row["first_attempt_ts"]
    if created is None or end is None:
        return None
    return float((end - created) * 1000.0)


def _latency(row: _Row, _ctx: RenderContext) -> str:
    ms = _latency_ms(row)
    return "" if ms is None else f"{ms:,.0f}"


def _table(row: _Row, _ctx: RenderContext) -> str:
    schema, table = row["schema_name"], row["table_name"] or ""
    return table if schema in (None, "", "public") else f"{schema}.{table}"


def _text(name: str) -> Callable[[_Row, RenderContext], str]:
    def render(row: _Row, _ctx: RenderContext) -> str:
        value = row[name]
        return "" if value is None else str(value)

    return render


def _row_number(_row: _Row, ctx: RenderContext) -> str:
    return str(ctx.row + 1)


COLUMNS: dict[str, Column] = {
    column.key: column
    for column in (
        Column("no", "No.", _text("seq"), "e.seq", numeric=True, description="Number of the event in the capture"),
        Column(
            "row",
            "Row",
            _row_number,
            None,
            numeric=True,
            shown=False,
            description="Position in the list as filtered",
        ),
        Column("time", "Time", _time, "e.created_ts", description="When Hasura created the event (local time)"),
        Column(
            "relative",
            "Relative",
            _relative,
            "e.created_ts",
            numeric=True,
            description="Seconds since the time reference, or since the first event of the capture",
        ),
        Column("trigger", "Trigger", _text("trigger_name"), "e.trigger_name", description="Event trigger"),
        Column("table", "Table", _table, "e.schema_name, e.table_name", description="Table the event came from"),
        Column("op", "Op", _text("op"), "e.op", description="INSERT, UPDATE, DELETE or MANUAL"),
        Column("row_key", "Row key", _text("row_key"), "e.row_key", description="Key of the changed row"),
        Column("status", "Status", _text("status"), "e.status", description="Status of the event's delivery"),
        Column("tries", "Tries", _text("tries"), "e.tries", numeric=True, description="Tries Hasura counted"),
        Column(
            "attempts",
            "Attempts",
            _text("attempts"),
            "e.attempts",
            numeric=True,
            description="Delivery attempts captured",
        ),
        Column(
            "latency",
            "Latency (ms)",
            _latency,
            _LATENCY_SQL,
            numeric=True,
            description="Milliseconds from creation to delivery (or to the first attempt when not delivered)",
        ),
        Column(
            "http_status",
            "HTTP",
            _text("last_http_status"),
            "e.last_http_status",
            numeric=True,
            description="HTTP status of the latest attempt",
        ),
        Column(
            "trace_id",
            "Trace id",
            _text("trace_id"),
            "e.trace_id",
            shown=False,
            description="Trace id from the event's trace context",
        ),
        Column("id", "Event id", _text("id"), "e.id", shown=False, description="Hasura event id"),
    )
}
"""Every column, in the order the columns menu lists them."""

DEFAULT_COLUMNS: tuple[str, ...] = tuple(key for key, column in COLUMNS.items() if column.shown)

_ALIGNMENTS: dict[str, Qt.AlignmentFlag] = {
    key: (Qt.AlignmentFlag.AlignRight if column.numeric else Qt.AlignmentFlag.AlignLeft) | Qt.AlignmentFlag.AlignVCenter
    for key, column in COLUMNS.items()
}

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ROLES = frozenset(
    {_DISPLAY, _TOOLTIP, _ALIGN, _BACKGROUND, _FOREGROUND, EVENT_ID_ROLE, SEQ_ROLE, ROW_ROLE, RULE_ROLE, MARKED_ROLE}
)
"""The roles `data` answers."""

_MARKED_COLOURS = {False: ("#1E1E1E", "#FFFFFF"), True: ("#E6E6E6", "#000000")}
"""Marked rows, as in Wireshark: inverted, whatever rule matched (keyed by dark palette)."""


def _palette_is_dark() -> bool:
    app = QGuiApplication.instance()
    if app is None:
        return False
    return QGuiApplication.palette().color(QPalette.ColorRole.Base).lightness() < 128


# --- the model -------------------------------------------------------------------------------------------------------


class _Loader:
    """The state of one load of the matching seqs.

    Modes: `slices` reads capture order in slices of the rowid range (any filter; the first screenful comes from the
    first slices); `collect` runs one query that SQLite answers from an index (`trigger == x`, `status == failed`,
    `trace_id == x`, free text), gathering its seqs over several steps and inserting them sorted at the end; `stream`
    reads a sorted query's rows in order."""

    def __init__(self, hi: int, mode: str = "slices", cursor: sqlite3.Cursor | None = None) -> None:
        self.mode = mode
        self.lo = 0
        """Seqs up to `lo` have been scanned (slices)."""
        self.hi = hi
        """The last seq of the capture when loading started; later ones are the live tail's."""
        self.span = _FIRST_SPAN
        self.cursor = cursor
        self.pending: list[int] = []
        """Seqs gathered by `collect`, in index order."""
        self.indexed = False
        """SQLite would answer the filter from an index: after the first screenful, switch to `collect`."""
        self.done = False

    def close(self) -> None:
        if self.cursor is not None:
            self.cursor.close()
            self.cursor = None


class EventTableModel(QAbstractTableModel):
    """The events of one capture file that match a display filter, one row each, in capture order (or sorted)."""

    filterApplied = Signal(int)
    """A filter finished loading: the number of events it matched."""
    rowsLoaded = Signal(int, int)
    """Progress of a load: rows loaded so far, and the total (-1 until known)."""
    filterFailed = Signal(str, int, int)
    """A filter was refused (message, start, end of the span at fault); the previous filter stays."""
    loadingChanged = Signal(bool)
    """Loading started (True) or ended (False); `loading` tells the same."""
    markToggled = Signal(str, bool)
    """An event was marked (True) or unmarked (False) by `toggle_mark`."""
    markFailed = Signal(str)
    """A mark could not be written (read-only file, locked for too long): the message."""

    def __init__(
        self,
        path: str | Path,
        rules: Sequence[ColourRule] = DEFAULT_RULES,
        columns: Iterable[str] = DEFAULT_COLUMNS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no capture file at {self.path}")
        self._conn = _connect(self.path)
        register_functions(self._conn)
        have = {r[1] for r in self._conn.execute("PRAGMA table_info(events)")}
        if not have:
            self._conn.close()
            raise CaptureFormatError(f"{self.path} has no events table: not an Inspector capture")
        self._select = ", ".join(f"e.{name}" if name in have else f"NULL AS {name}" for name in _PAGE_FIELDS)
        self._closed = False
        self._columns: list[str] = self._valid_columns(columns) or list(DEFAULT_COLUMNS)
        self._filter_text = ""
        self._filter: CompiledFilter | None = None
        self._sort: tuple[str, Qt.SortOrder] | None = None
        self._seqs: array[int] = array("q")
        self._pages: OrderedDict[int, list[_Row | None]] = OrderedDict()
        self._ctx = RenderContext()
        self._first_ts: float | None = None
        self._reference: float | None = None
        self._dark = _palette_is_dark()
        self._rules: tuple[ColourRule, ...] = ()
        self._compiled_rules = compile_rules(())
        self._rule_colours: list[tuple[QColor, QColor]] = []
        self._rule_errors: dict[str, str] = {}
        self._marked_colours = self._marked_qcolours()
        self._loader: _Loader | None = None
        self._loading = False
        self._hi = 0
        """The last seq the list has considered (loaded or tailed); the tail appends matches after it."""
        self._data_version = -1
        self._state_seq = 0
        self._invocation_seq = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._set_rules(rules)
        self._start_load()

    # --- Qt model interface ------------------------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        if parent is not None and parent.isValid():
            return 0
        return len(self._seqs)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:
        if parent is not None and parent.isValid():
            return 0
        return len(self._columns)

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._columns):
            return None
        column = COLUMNS[self._columns[section]]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.header
        if role == Qt.ItemDataRole.ToolTipRole:
            return column.description
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _alignment(column)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = _DISPLAY) -> Any:
        # Called for every role of every visible cell at each paint: roles we do not answer leave first, and the rest
        # avoids Qt enum arithmetic (ints prepared once).
        if role not in _ROLES:
            return None
        r, c = index.row(), index.column()
        if r < 0 or c < 0 or r >= len(self._seqs) or c >= len(self._columns):
            return None
        if role == _ALIGN:
            return _ALIGNMENTS[self._columns[c]]
        if role == SEQ_ROLE:
            return self._seqs[r]
        row = self._row(r)
        if row is None:
            return None
        if role == _DISPLAY:
            ctx = self._ctx
            ctx.row = r
            ctx.origin = self._reference if self._reference is not None else self._first_ts
            return COLUMNS[self._columns[c]].render(row, ctx)
        if role in (_BACKGROUND, _FOREGROUND):
            if row["_marked"]:
                colours = self._marked_colours
            else:
                rule = row["_rule"]
                if rule is None or rule >= len(self._rule_colours):
                    return None
                colours = self._rule_colours[rule]
            return colours[0] if role == _BACKGROUND else colours[1]
        if role == EVENT_ID_ROLE:
            return row["id"]
        if role == RULE_ROLE:
            rule_obj = self._compiled_rules.rule_at(row["_rule"])
            return None if rule_obj is None else rule_obj.name
        if role == MARKED_ROLE:
            return bool(row["_marked"])
        if role == _TOOLTIP:
            return self._tooltip(row)
        if role == ROW_ROLE:
            return self.row_dict(r)
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by a column (SQL `ORDER BY`, then capture order); "No." ascending is capture order. Events the live
        tail appends go to the end until the list is sorted again."""
        if not 0 <= column < len(self._columns):
            return
        key = self._columns[column]
        if COLUMNS[key].sort_sql is None:
            return
        wanted = None if key == "no" and order == Qt.SortOrder.AscendingOrder else (key, order)
        if wanted == self._sort:
            return
        self._sort = wanted
        self._start_load()

    # --- configuration -----------------------------------------------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        """The keys of the columns shown, in order."""
        return list(self._columns)

    def set_columns(self, keys: Iterable[str]) -> None:
        """Show these columns (keys of `COLUMNS`, in this order); unknown keys are ignored, none at all means the
        defaults."""
        columns = self._valid_columns(keys) or list(DEFAULT_COLUMNS)
        if columns == self._columns:
            return
        if self._columns:
            self.beginRemoveColumns(QModelIndex(), 0, len(self._columns) - 1)
            self._columns = []
            self.endRemoveColumns()
        self.beginInsertColumns(QModelIndex(), 0, len(columns) - 1)
        self._columns = columns
        self.endInsertColumns()

    @staticmethod
    def _valid_columns(keys: Iterable[str]) -> list[str]:
        out: list[str] = []
        for key in keys:
            if key in COLUMNS and key not in out:
                out.append(key)
        return out

    @property
    def filter_text(self) -> str:
        """The filter in use (as the user wrote it; "" shows every event)."""
        return self._filter_text

    def set_filter(self, text: str) -> bool:
        """Show the events `text` matches. A filter that does not compile (or that SQLite refuses) emits
        `filterFailed` and leaves the list as it was; returns whether the filter was taken."""
        text = text.strip()
        try:
            compiled = compile_filter(text) if text else None
            if compiled is not None:
                self._conn.execute(f"SELECT 1 FROM events e WHERE ({compiled.where}) LIMIT 0", compiled.params)
        except FilterError as exc:
            self.filterFailed.emit(exc.message, exc.start, exc.end)
            return False
        except sqlite3.Error as exc:
            self.filterFailed.emit(f"the capture cannot run this filter: {exc}", 0, len(text))
            return False
        self._filter_text = text
        self._filter = None if compiled is None or compiled.where == "1" else compiled
        self._start_load()
        return True

    @property
    def rules(self) -> tuple[ColourRule, ...]:
        return self._rules

    @property
    def rule_errors(self) -> dict[str, str]:
        """Enabled rules left out, by name, with the reason (their filter does not compile or SQLite refuses it)."""
        return dict(self._rule_errors)

    def set_rules(self, rules: Sequence[ColourRule]) -> None:
        """Colour rows with these rules (first match wins); each enabled rule is compiled once, here."""
        self._set_rules(rules)
        self._pages.clear()
        self._emit_all_changed(
            [Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole, RULE_ROLE, Qt.ItemDataRole.ToolTipRole]
        )

    def _set_rules(self, rules: Sequence[ColourRule]) -> None:
        usable: list[ColourRule] = []
        errors: dict[str, str] = {}
        for rule in rules:
            if not rule.enabled:
                continue
            compiled = compile_rules([rule])
            if compiled.errors:
                errors.update(compiled.errors)
                continue
            try:  # a filter can compile and still be refused by this file (a column it lacks)
                self._conn.execute(f"SELECT {compiled.sql} FROM events e LIMIT 0", compiled.params)
            except sqlite3.Error as exc:
                errors[rule.name] = f"the capture cannot run this rule: {exc}"
                continue
            usable.append(rule)
        self._rules = tuple(rules)
        self._compiled_rules = compile_rules(usable)
        self._rule_errors = errors
        self._rule_colours = [self._qcolours(rule) for rule in self._compiled_rules.rules]

    def set_dark_palette(self, dark: bool) -> None:
        """Use the rules' dark (or light) colours, e.g. when the application palette changes."""
        if dark == self._dark:
            return
        self._dark = dark
        self._rule_colours = [self._qcolours(rule) for rule in self._compiled_rules.rules]
        self._marked_colours = self._marked_qcolours()
        self._emit_all_changed([Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole])

    def _qcolours(self, rule: ColourRule) -> tuple[QColor, QColor]:
        background, foreground = rule.colours(self._dark)
        return QColor(background), QColor(foreground)

    def _marked_qcolours(self) -> tuple[QColor, QColor]:
        background, foreground = _MARKED_COLOURS[self._dark]
        return QColor(background), QColor(foreground)

    def set_reference_time(self, ts: float | None) -> None:
        """Count relative times from `ts` (epoch seconds), or from the first event of the capture when None."""
        if ts == self._reference:
            return
        self._reference = ts
        if "relative" in self._columns and self._seqs:
            c = self._columns.index("relative")
            self.dataChanged.emit(self.index(0, c), self.index(len(self._seqs) - 1, c), [Qt.ItemDataRole.DisplayRole])

    @property
    def reference_time(self) -> float | None:
        return self._reference

    # --- lookups -----------------------------------------------------------------------------------------------------

    @property
    def loading(self) -> bool:
        """Whether the matching rows are still being read (more rows will be inserted)."""
        return self._loading

    @property
    def cached_pages(self) -> int:
        """Pages of rows held in memory (at most `MAX_PAGES`)."""
        return len(self._pages)

    def seq_at(self, row: int) -> int | None:
        return self._seqs[row] if 0 <= row < len(self._seqs) else None

    def event_id_at(self, row: int) -> str | None:
        found = self._row(row) if 0 <= row < len(self._seqs) else None
        return None if found is None else str(found["id"])

    def row_for_seq(self, seq: int) -> int | None:
        if self._sort is None:
            i = bisect.bisect_left(self._seqs, seq)
            return i if i < len(self._seqs) and self._seqs[i] == seq else None
        try:
            return self._seqs.index(seq)
        except ValueError:
            return None

    def row_for_event_id(self, event_id: str) -> int | None:
        """The row showing an event, or None when the filter hides it (or no such event)."""
        if self._closed:
            return None
        found = self._conn.execute("SELECT seq FROM events WHERE id = ?", (event_id,)).fetchone()
        return None if found is None else self.row_for_seq(int(found[0]))

    def row_dict(self, row: int) -> dict[str, Any] | None:
        """The whole `events` row (payload included) shown at `row`, read now."""
        seq = self.seq_at(row)
        if seq is None or self._closed:
            return None
        cursor = self._conn.execute("SELECT * FROM events WHERE seq = ?", (seq,))
        values = cursor.fetchone()
        if values is None:
            return None
        return dict(zip([d[0] for d in cursor.description], values, strict=True))

    # --- marks -------------------------------------------------------------------------------------------------------

    def toggle_mark(self, row: int) -> bool | None:
        """Mark the event at `row`, or unmark it if marked; written to the capture's `marks` at once. Returns the new
        state, or None when there is no such row or the mark could not be written (`markFailed` says why)."""
        found = self._row(row) if 0 <= row < len(self._seqs) else None
        if found is None:
            return None
        event_id, marked = str(found["id"]), not found["_marked"]
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if marked:
                    self._conn.execute(
                        "INSERT OR IGNORE INTO marks (kind, target, created_at) VALUES ('event', ?, ?)",
                        (event_id, time.time()),
                    )
                else:
                    self._conn.execute("DELETE FROM marks WHERE kind = 'event' AND target = ?", (event_id,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self.markFailed.emit(f"could not mark the event: {exc}")
            return None
        self._pages.pop(row // PAGE_SIZE, None)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self._columns) - 1))
        self.markToggled.emit(event_id, marked)
        return marked

    # --- live tail ---------------------------------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Take in what other connections committed since the last look (the window calls this on a short timer):
        events that now match are inserted (new ones appended in one batch), and rows already read are read again so
        changed statuses show. Cheap when nothing changed (`PRAGMA data_version`). Returns whether anything did."""
        if self._closed or self._loading:
            return False  # the loader stops at the seq it started from; the next refresh takes the rest
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if version == self._data_version:
            return False
        self._conn.execute("BEGIN")
        try:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            hi, state_seq, invocation_seq = self._marks_of_change()
            new = self._matching_seqs_between(self._hi, hi)
            # Sorted lists take new events at the end and leave membership alone (no cheap lookup by seq there).
            came_to_match = self._came_to_match() if self._filter is not None and self._sort is None else []
            if self._first_ts is None:
                self._first_ts = self._first_event_ts()
        finally:
            self._conn.execute("COMMIT")
        self._data_version = version
        self._state_seq, self._invocation_seq = state_seq, invocation_seq
        self._hi = max(self._hi, hi)
        self._reread_cached_rows()
        if len(came_to_match) > _ADMIT_LIMIT:
            self._start_load()
            return True
        for seq in came_to_match:
            self._insert_seq(seq)
        if new:
            self._append(new)
        return True

    def _marks_of_change(self) -> tuple[int, int, int]:
        """The last seq of events, event_states and invocations, read together."""
        row = self._conn.execute(
            "SELECT (SELECT max(seq) FROM events), (SELECT max(seq) FROM event_states), "
            "(SELECT max(seq) FROM invocations)"
        ).fetchone()
        return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)

    def _matching_seqs_between(self, lo: int, hi: int) -> list[int]:
        if hi <= lo:
            return []
        where, params = self._where()
        return [
            r[0]
            for r in self._conn.execute(
                f"SELECT e.seq FROM events e NOT INDEXED WHERE e.seq > ? AND e.seq <= ? AND ({where}) ORDER BY e.seq",
                [lo, hi, *params],
            )
        ]

    def _came_to_match(self) -> list[int]:
        """Seqs (up to the last one considered) of events that changed since the last look, now match the filter and
        are not in the list."""
        changed = [
            r[0]
            for r in self._conn.execute(
                "SELECT event_id FROM event_states WHERE seq > ? UNION SELECT event_id FROM invocations WHERE seq > ?",
                (self._state_seq, self._invocation_seq),
            )
        ]
        where, params = self._where()
        out: list[int] = []
        for start in range(0, len(changed), 500):
            chunk = changed[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for (seq,) in self._conn.execute(
                f"SELECT e.seq FROM events e WHERE e.id IN ({marks}) AND e.seq <= ? AND ({where})",
                [*chunk, self._hi, *params],
            ):
                if self.row_for_seq(seq) is None:
                    out.append(seq)
        out.sort()
        return out

    def _insert_seq(self, seq: int) -> None:
        row = bisect.bisect_left(self._seqs, seq) if self._sort is None else len(self._seqs)
        self._drop_pages_from(row)
        self.beginInsertRows(QModelIndex(), row, row)
        self._seqs.insert(row, seq)
        self.endInsertRows()

    def _append(self, seqs: Sequence[int]) -> None:
        """Add rows at the end in one insertion."""
        if not seqs:
            return
        first = len(self._seqs)
        if first % PAGE_SIZE:
            self._pages.pop(first // PAGE_SIZE, None)  # the last page was short; it grows now
        self.beginInsertRows(QModelIndex(), first, first + len(seqs) - 1)
        self._seqs.extend(seqs)
        self.endInsertRows()

    def _reread_cached_rows(self) -> None:
        """Forget the cached pages and tell views their rows changed (only those can be on screen)."""
        ranges = sorted(self._pages)
        self._pages.clear()
        if not ranges or not self._columns:
            return
        last_col = len(self._columns) - 1
        start = prev = ranges[0]
        for page in [*ranges[1:], None]:
            if page is not None and page == prev + 1:
                prev = page
                continue
            first_row = start * PAGE_SIZE
            last_row = min((prev + 1) * PAGE_SIZE, len(self._seqs)) - 1
            if last_row >= first_row:
                self.dataChanged.emit(self.index(first_row, 0), self.index(last_row, last_col))
            if page is not None:
                start = prev = page

    def _drop_pages_from(self, row: int) -> None:
        for page in [p for p in self._pages if p >= row // PAGE_SIZE]:
            del self._pages[page]

    # --- loading -----------------------------------------------------------------------------------------------------

    def finish_loading(self) -> None:
        """Load the rest of the matching rows now (for scripts and tests; the window lets the timer do it)."""
        while self._loading:
            self._load_step(budget=3600.0)

    def _where(self) -> tuple[str, list[Any]]:
        if self._filter is None:
            return "1", []
        return self._filter.where, list(self._filter.params)

    def _start_load(self) -> None:
        """Forget the rows and read the matching seqs again: the first step now, the rest from the timer."""
        if self._closed:
            return
        self._timer.stop()
        if self._loader is not None:
            self._loader.close()
        self.beginResetModel()
        self._seqs = array("q")
        self._pages.clear()
        self._conn.execute("BEGIN")
        try:
            self._data_version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            hi, self._state_seq, self._invocation_seq = self._marks_of_change()
            self._first_ts = self._first_event_ts()
            low = int(self._conn.execute("SELECT coalesce(min(seq), 1) FROM events").fetchone()[0])
            dense = self._dense_seqs(low, hi) if self._filter is None and self._sort is None else None
        finally:
            self._conn.execute("COMMIT")
        self._hi = hi
        loader = _Loader(hi)
        loader.lo = low - 1
        if dense is not None:
            self._seqs = dense
            loader.done = True
        elif self._sort is not None:
            loader.mode, loader.cursor = "stream", self._sorted_cursor(hi)
        else:
            loader.indexed = self._filter is not None and self._answered_from_an_index()
        self._loader = loader
        was_loading = self._loading
        self._loading = not loader.done
        self.endResetModel()
        if was_loading != self._loading:
            self.loadingChanged.emit(self._loading)
        if loader.done:
            self._finish()
        else:
            self._load_step(budget=_FIRST_STEP_BUDGET, first=True)

    def _answered_from_an_index(self) -> bool:
        """Whether SQLite's plan for the filter reads an index (or the full-text index) rather than the table."""
        where, params = self._where()
        plan = self._conn.execute(
            f"EXPLAIN QUERY PLAN SELECT e.seq FROM events e WHERE e.seq > ? AND e.seq <= ? AND ({where})",
            [0, 0, *params],
        ).fetchall()
        return any(_INDEXED_PLAN.match(str(row[3])) for row in plan)

    def _indexed_cursor(self, lo: int, hi: int) -> sqlite3.Cursor:
        where, params = self._where()
        return self._conn.execute(
            f"SELECT e.seq FROM events e WHERE e.seq > ? AND e.seq <= ? AND ({where})", [lo, hi, *params]
        )

    def _dense_seqs(self, low: int, hi: int) -> array[int] | None:
        """All seqs without reading the table, when they run without gaps (the usual capture): 1M in ~40 ms."""
        count = int(self._conn.execute("SELECT count(*) FROM events").fetchone()[0])
        if count == 0:
            return array("q")
        if hi - low + 1 != count:
            return None
        return array("q", range(low, hi + 1))

    def _first_event_ts(self) -> float | None:
        found = self._conn.execute("SELECT min(created_ts) FROM events").fetchone()
        return None if found is None or found[0] is None else float(found[0])

    def _origin(self) -> float | None:
        return self._reference if self._reference is not None else self._first_ts

    def _sorted_cursor(self, hi: int) -> sqlite3.Cursor:
        assert self._sort is not None
        key, order = self._sort
        direction = "DESC" if order == Qt.SortOrder.DescendingOrder else "ASC"
        sort_sql = COLUMNS[key].sort_sql or "e.seq"
        terms = ", ".join(f"{term.strip()} {direction}" for term in sort_sql.split(","))
        where, params = self._where()
        return self._conn.execute(
            f"SELECT e.seq FROM events e WHERE e.seq <= ? AND ({where}) ORDER BY {terms}, e.seq {direction}",
            [hi, *params],
        )

    def _on_timer_timeout(self) -> None:
        if self._loading:
            self._load_step(budget=_STEP_BUDGET)

    def _load_step(self, budget: float, first: bool = False) -> None:
        """Read matching seqs for about `budget` seconds and insert them as one batch of rows."""
        loader = self._loader
        if loader is None or loader.done or self._closed:
            return
        found: list[int] = []
        started = time.perf_counter()
        try:
            if first and loader.indexed and self._probe_index(loader, found):
                loader.done = True
            while not loader.done and time.perf_counter() - started < budget:
                if loader.mode == "slices":
                    self._load_slice(loader, found)
                    if first and len(found) >= PAGE_SIZE:
                        break
                    continue
                assert loader.cursor is not None
                batch = loader.cursor.fetchmany(_FETCH)
                (found if loader.mode == "stream" else loader.pending).extend(r[0] for r in batch)
                if len(batch) < _FETCH:
                    loader.done = True
                    loader.close()
                    found.extend(sorted(loader.pending))
            if first and loader.indexed and not loader.done:
                loader.mode, loader.cursor = "collect", self._indexed_cursor(loader.lo, loader.hi)
        except sqlite3.Error as exc:
            # A filter that compiled and prepared but fails as it runs: show what matched so far, and say why.
            loader.done = True
            loader.close()
            self.filterFailed.emit(f"the filter stopped: {exc}", 0, len(self._filter_text))
        self._append(found)
        if loader.done:
            self._finish()
        else:
            self.rowsLoaded.emit(len(self._seqs), -1)
            self._timer.start()

    def _probe_index(self, loader: _Loader, found: list[int]) -> bool:
        """Try the index for a moment: a selective filter (an id, a trace id, failed events) is answered at once. When
        it is not, the first screenful comes from slices instead, and the index query runs after it."""
        cursor = self._indexed_cursor(loader.lo, loader.hi)
        started = time.perf_counter()
        seqs: list[int] = []
        while time.perf_counter() - started < _PROBE_BUDGET:
            batch = cursor.fetchmany(_FETCH)
            seqs.extend(r[0] for r in batch)
            if len(batch) < _FETCH:
                cursor.close()
                found.extend(sorted(seqs))
                return True
        cursor.close()
        return False

    def _load_slice(self, loader: _Loader, found: list[int]) -> None:
        upper = min(loader.lo + loader.span, loader.hi)
        where, params = self._where()
        t0 = time.perf_counter()
        found.extend(
            r[0]
            for r in self._conn.execute(
                f"SELECT e.seq FROM events e NOT INDEXED WHERE e.seq > ? AND e.seq <= ? AND ({where}) ORDER BY e.seq",
                [loader.lo, upper, *params],
            )
        )
        elapsed = time.perf_counter() - t0
        loader.lo = upper
        loader.done = upper >= loader.hi
        if elapsed < _SLICE_TARGET / 2:
            loader.span = min(loader.span * 2, _MAX_SPAN)
        elif elapsed > _SLICE_TARGET * 2:
            loader.span = max(loader.span // 2, _MIN_SPAN)

    def _finish(self) -> None:
        was_loading = self._loading
        self._loading = False
        if was_loading:
            self.loadingChanged.emit(False)
        count = len(self._seqs)
        self.rowsLoaded.emit(count, count)
        self.filterApplied.emit(count)

    # --- pages -------------------------------------------------------------------------------------------------------

    def _row(self, row: int) -> _Row | None:
        page_no = row // PAGE_SIZE
        page = self._pages.get(page_no)
        if page is None:
            if self._closed:
                return None
            page = self._read_page(page_no)
            self._pages[page_no] = page
            while len(self._pages) > MAX_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(page_no)
        return page[row - page_no * PAGE_SIZE]

    def _read_page(self, page_no: int) -> list[_Row | None]:
        """One query for a page: its rows, the first colouring rule each matches, and whether each is marked."""
        seqs = self._seqs[page_no * PAGE_SIZE : (page_no + 1) * PAGE_SIZE].tolist()
        rules = self._compiled_rules
        cursor = self._conn.cursor()
        cursor.row_factory = sqlite3.Row
        cursor.execute(
            f"SELECT {self._select}, {rules.sql} AS _rule, "
            "EXISTS (SELECT 1 FROM marks m WHERE m.kind = 'event' AND m.target = e.id) AS _marked "
            f"FROM events e WHERE e.seq IN ({','.join('?' * len(seqs))})",
            [*rules.params, *seqs],
        )
        by_seq = {row[0]: row for row in cursor}  # seq comes first
        return [by_seq.get(seq) for seq in seqs]

    def _tooltip(self, row: _Row) -> str:
        lines = [f"{row['trigger_name']} · {row['op']} · {row['status']}", f"Event {row['id']}"]
        if row["created_at"]:
            lines.append(f"Created {_local_time(row['created_ts'])} (Hasura: {row['created_at']})")
        if row["next_retry_at"]:
            lines.append(f"Next retry at {row['next_retry_at']}")
        if row["successes"] and row["successes"] > 1:
            lines.append(f"Delivered {row['successes']} times")
        if row["flags"]:
            lines.append(f"Flags: {row['flags']}")
        rule = self._compiled_rules.rule_at(row["_rule"])
        if rule is not None:
            lines.append(f"Colouring rule: {rule.name}")
        if row["_marked"]:
            lines.append("Marked")
        return "\n".join(lines)

    def _emit_all_changed(self, roles: list[int]) -> None:
        if self._seqs and self._columns:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._seqs) - 1, len(self._columns) - 1), roles)

    # --- closing -----------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop loading and close the connection; the model shows no rows afterwards."""
        if self._closed:
            return
        self._timer.stop()
        self.beginResetModel()
        self._seqs = array("q")
        self._pages.clear()
        self._closed = True
        if self._loader is not None:
            self._loader.close()
        self._loader = None
        self._loading = False
        self.endResetModel()
        self._conn.close()


def _alignment(column: Column) -> Qt.AlignmentFlag:
    return _ALIGNMENTS[column.key]


def _connect(path: Path) -> sqlite3.Connection:
    """The model's own connection: autocommit (no read transaction left open between queries), and never creating a
    file that is not there. Read-write so marks can be written; read-only when the file cannot be written."""
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=rw", uri=True, isolation_level=None, timeout=5.0)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=5.0)
    return conn


# --- following the tail ----------------------------------------------------------------------------------------------


class LiveTail(QObject):
    """Keeps a table view at the bottom of an event list while it follows a live capture.

    Following stops when the user scrolls up (the scroll bar leaves its maximum) and starts again when they scroll back
    to the bottom (or `set_following(True)`); while following, every insertion of rows scrolls to the new bottom.
    """

    followingChanged = Signal(bool)

    def __init__(self, view: QTableView, model: QAbstractItemModel | None = None, following: bool = True) -> None:
        super().__init__(view)
        self._view = view
        model = model if model is not None else view.model()
        assert model is not None, "LiveTail needs a model"
        self._model = model
        self._following = following
        self._resetting = False
        self._scrolling = False
        view.verticalScrollBar().valueChanged.connect(self._on_scrollbar_value_changed)
        model.rowsInserted.connect(self._on_model_rows_inserted)
        model.modelAboutToBeReset.connect(self._on_model_about_to_be_reset)
        model.modelReset.connect(self._on_model_reset)

    @property
    def following(self) -> bool:
        return self._following

    def set_following(self, following: bool) -> None:
        if following:
            self._scroll_to_bottom()
        self._set(following)

    def _set(self, following: bool) -> None:
        if following != self._following:
            self._following = following
            self.followingChanged.emit(following)

    def _scroll_to_bottom(self) -> None:
        self._scrolling = True
        try:
            self._view.scrollToBottom()
        finally:
            self._scrolling = False

    def _on_model_rows_inserted(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        if self._following:
            self._scroll_to_bottom()

    def _on_model_about_to_be_reset(self) -> None:
        self._resetting = True

    def _on_model_reset(self) -> None:
        self._resetting = False
        if self._following:
            self._scroll_to_bottom()

    def _on_scrollbar_value_changed(self, value: int) -> None:
        if self._resetting or self._scrolling:
            return
        self._set(value >= self._view.verticalScrollBar().maximum())
