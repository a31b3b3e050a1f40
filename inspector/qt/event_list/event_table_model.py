"""The event list: a Qt table model over a capture file's `events`, a thin adapter over `store.event_index`.

Owns the column registry (how each column renders a row), the colours of the colouring rules and of marked rows, the
zero-delay timer that loads the matching rows between paints, and turning what `EventIndex` reports (rows loaded,
events appended by the live tail, events that came to match, marks written) into Qt's model signals. The index owns
the rows, their paging (keyset pages, a bounded cache), the loading, the tail and the SQL. Used by the main window's
event list (`QTableView`), with `LiveTail` keeping the view at the bottom while the user follows a live capture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
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

from inspector.core.colouring import DEFAULT_RULES, ColourRule
from inspector.core.filter import FilterError
from inspector.core.time_format import TimeFormat, format_instant
from inspector.qt.roles import EVENT_ID_ROLE, MARKED_ROLE, ROW_ROLE, RULE_ROLE, SEQ_ROLE
from inspector.store.event_index import (
    FIRST_STEP_BUDGET,
    MAX_PAGES,
    PAGE_SIZE,
    STEP_BUDGET,
    EventIndex,
    EventRow,
    FilterRefused,
    MarkFailed,
)

__all__ = ["COLUMNS", "DEFAULT_COLUMNS", "MAX_PAGES", "PAGE_SIZE", "Column", "EventTableModel", "LiveTail"]

_Row = EventRow


# --- columns ---------------------------------------------------------------------------------------------------------


@dataclass
class RenderContext:
    """What a column needs besides the row: where relative time counts from, and the row's position."""

    origin: float | None = None
    """Epoch seconds relative times count from: the time reference, else the first event of the capture."""
    row: int = 0
    time_format: TimeFormat = TimeFormat.LOCAL
    """How the Time column shows the creation time (View ▸ Time display format)."""
    previous: float | None = None
    """Creation time of the row above (for `TimeFormat.SINCE_PREVIOUS`)."""


@dataclass(frozen=True)
class Column:
    """One column the event list can show."""

    key: str
    """Stable name, kept in settings."""
    header: str
    render: Callable[[_Row, RenderContext], str]
    """The cell text for a row."""
    sortable: bool
    """Whether the list can be sorted by it (how: `store.event_index.SORT_SQL`)."""
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


def _time(row: _Row, ctx: RenderContext) -> str:
    # Time of day keeps the column narrow; the tooltip (and the detail pane) give the date.
    ts = row.created_ts
    if ts is None:
        return str(row.created_at or "")
    return format_instant(ts, ctx.time_format, ctx.origin, ctx.previous)


def _relative(row: _Row, ctx: RenderContext) -> str:
    ts = row.created_ts
    if ts is None or ctx.origin is None:
        return ""
    return f"{ts - ctx.origin:.3f}"


def _latency_ms(row: _Row) -> float | None:
    created = row.created_ts
    end = row.delivered_ts if row.delivered_ts is not None else row.first_attempt_ts
    if created is None or end is None:
        return None
    return float((end - created) * 1000.0)


def _latency(row: _Row, _ctx: RenderContext) -> str:
    ms = _latency_ms(row)
    return "" if ms is None else f"{ms:,.0f}"


def _table(row: _Row, _ctx: RenderContext) -> str:
    schema, table = row.schema_name, row.table_name or ""
    return table if schema in (None, "", "public") else f"{schema}.{table}"


def _text(name: str) -> Callable[[_Row, RenderContext], str]:
    get = attrgetter(name)

    def render(row: _Row, _ctx: RenderContext) -> str:
        value = get(row)
        return "" if value is None else str(value)

    return render


def _row_number(_row: _Row, ctx: RenderContext) -> str:
    return str(ctx.row + 1)


COLUMNS: dict[str, Column] = {
    column.key: column
    for column in (
        Column(
            "no",
            "No.",
            _text("seq"),
            True,
            numeric=True,
            description="Number of the event in the capture: the order Inspector read it in, as Wireshark numbers "
            "frames. Older events read in later (a capture started on a backlog) get later numbers: sort by Time "
            "for the order Hasura created them",
        ),
        Column(
            "row",
            "Row",
            _row_number,
            False,
            numeric=True,
            shown=False,
            description="Position in the list as filtered",
        ),
        Column("time", "Time", _time, True, description="When Hasura created the event (local time)"),
        Column(
            "relative",
            "Relative",
            _relative,
            True,
            numeric=True,
            description="Seconds since the time reference, or since the first event of the capture",
        ),
        Column("trigger", "Trigger", _text("trigger_name"), True, description="Event trigger"),
        Column("table", "Table", _table, True, description="Table the event came from"),
        Column("op", "Op", _text("op"), True, description="INSERT, UPDATE, DELETE or MANUAL"),
        Column("row_key", "Row key", _text("row_key"), True, description="Key of the changed row"),
        Column("status", "Status", _text("status"), True, description="Status of the event's delivery"),
        Column("tries", "Tries", _text("tries"), True, numeric=True, description="Tries Hasura counted"),
        Column(
            "attempts",
            "Attempts",
            _text("attempts"),
            True,
            numeric=True,
            description="Delivery attempts captured",
        ),
        Column(
            "latency",
            "Latency (ms)",
            _latency,
            True,
            numeric=True,
            description="Milliseconds from creation to delivery (or to the first attempt when not delivered)",
        ),
        Column(
            "http_status",
            "HTTP",
            _text("last_http_status"),
            True,
            numeric=True,
            description="HTTP status of the latest attempt",
        ),
        Column(
            "trace_id",
            "Trace id",
            _text("trace_id"),
            True,
            shown=False,
            description="Trace id from the event's trace context",
        ),
        Column("id", "Event id", _text("id"), True, shown=False, description="Hasura event id"),
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
        index: EventIndex | None = None,
    ) -> None:
        super().__init__(parent)
        self.path = Path(path)
        # `index`: another source of the same rows (a store capture read from the server: PostgresEventIndex)
        self._index = index if index is not None else EventIndex(self.path)
        self._columns: list[str] = self._valid_columns(columns) or list(DEFAULT_COLUMNS)
        self._filter_text = ""
        self._sort: tuple[str, Qt.SortOrder] | None = None
        self._ctx = RenderContext()
        self._reference: float | None = None
        self._dark = _palette_is_dark()
        self._rules: tuple[ColourRule, ...] = ()
        self._rule_colours: list[tuple[QColor, QColor]] = []
        self._marked_colours = self._marked_qcolours()
        self._loading = False
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
        return len(self._index.seqs)

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
            return self._ctx.time_format.header if column.key == "time" else column.header
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
        seqs = self._index.seqs
        if r < 0 or c < 0 or r >= len(seqs) or c >= len(self._columns):
            return None
        if role == _ALIGN:
            return _ALIGNMENTS[self._columns[c]]
        if role == SEQ_ROLE:
            return seqs[r]
        row = self._index.row(r)
        if row is None:
            return None
        if role == _DISPLAY:
            ctx = self._ctx
            ctx.row = r
            ctx.origin = self._reference if self._reference is not None else self._index.first_ts
            key = self._columns[c]
            if key == "time" and ctx.time_format is TimeFormat.SINCE_PREVIOUS:
                above = self._index.row(r - 1) if r > 0 else None
                ctx.previous = None if above is None else above.created_ts
            return COLUMNS[key].render(row, ctx)
        if role in (_BACKGROUND, _FOREGROUND):
            if row.marked:
                colours = self._marked_colours
            else:
                rule = row.rule
                if rule is None or rule >= len(self._rule_colours):
                    return None
                colours = self._rule_colours[rule]
            return colours[0] if role == _BACKGROUND else colours[1]
        if role == EVENT_ID_ROLE:
            return row.id
        if role == RULE_ROLE:
            rule_obj = self._index.compiled_rules.rule_at(row.rule)
            return None if rule_obj is None else rule_obj.name
        if role == MARKED_ROLE:
            return bool(row.marked)
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
        if not COLUMNS[key].sortable:
            return
        wanted = None if key == "no" and order == Qt.SortOrder.AscendingOrder else (key, order)
        if wanted == self._sort:
            return
        self._sort = wanted
        self._index.sort = None if wanted is None else (key, order == Qt.SortOrder.DescendingOrder)
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
            compiled = self._index.compile(text)
        except FilterError as exc:
            self.filterFailed.emit(exc.message, exc.start, exc.end)
            return False
        except FilterRefused as exc:
            self.filterFailed.emit(str(exc), 0, len(text))
            return False
        self._filter_text = text
        self._index.filter = compiled
        self._start_load()
        return True

    @property
    def rules(self) -> tuple[ColourRule, ...]:
        return self._rules

    @property
    def rule_errors(self) -> dict[str, str]:
        """Enabled rules left out, by name, with the reason (their filter does not compile or SQLite refuses it)."""
        return dict(self._index.rule_errors)

    def set_rules(self, rules: Sequence[ColourRule]) -> None:
        """Colour rows with these rules (first match wins); each enabled rule is compiled once, here."""
        self._set_rules(rules)
        self._emit_all_changed(
            [Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole, RULE_ROLE, Qt.ItemDataRole.ToolTipRole]
        )

    def _set_rules(self, rules: Sequence[ColourRule]) -> None:
        compiled = self._index.set_rules(rules)
        self._rules = tuple(rules)
        self._rule_colours = [self._qcolours(rule) for rule in compiled.rules]

    def set_dark_palette(self, dark: bool) -> None:
        """Use the rules' dark (or light) colours, e.g. when the application palette changes."""
        if dark == self._dark:
            return
        self._dark = dark
        self._rule_colours = [self._qcolours(rule) for rule in self._index.compiled_rules.rules]
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
        rows = len(self._index.seqs)
        if "relative" in self._columns and rows:
            c = self._columns.index("relative")
            self.dataChanged.emit(self.index(0, c), self.index(rows - 1, c), [Qt.ItemDataRole.DisplayRole])

    @property
    def reference_time(self) -> float | None:
        return self._reference

    @property
    def time_format(self) -> TimeFormat:
        return self._ctx.time_format

    def time_origins(self, event_id: str) -> tuple[float | None, float | None]:
        """What the Time column counts from for the row showing `event_id`: (the time reference, else the capture's
        first event; the creation time of the row above, None for the first row or an event the filter hides). The
        detail pane shows its times the same way."""
        origin = self._reference if self._reference is not None else self._index.first_ts
        row = self._index.row_for_event_id(event_id)
        above = self._index.row(row - 1) if row is not None and row > 0 else None
        return origin, None if above is None else above.created_ts

    def set_time_format(self, fmt: TimeFormat) -> None:
        """Show the Time column in `fmt` (View ▸ Time display format)."""
        if fmt is self._ctx.time_format:
            return
        self._ctx.time_format = fmt
        if "time" in self._columns:
            c = self._columns.index("time")
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, c, c)
            rows = len(self._index.seqs)
            if rows:
                self.dataChanged.emit(self.index(0, c), self.index(rows - 1, c), [Qt.ItemDataRole.DisplayRole])

    # --- lookups -----------------------------------------------------------------------------------------------------

    @property
    def loading(self) -> bool:
        """Whether the matching rows are still being read (more rows will be inserted)."""
        return self._loading

    @property
    def cached_pages(self) -> int:
        """Pages of rows held in memory (at most `MAX_PAGES`)."""
        return self._index.cached_pages

    def seq_at(self, row: int) -> int | None:
        return self._index.seq_at(row)

    def event_id_at(self, row: int) -> str | None:
        found = self._index.row(row) if 0 <= row < len(self._index.seqs) else None
        return None if found is None else str(found.id)

    def row_for_seq(self, seq: int) -> int | None:
        return self._index.row_for_seq(seq)

    def row_for_event_id(self, event_id: str) -> int | None:
        """The row showing an event, or None when the filter hides it (or no such event)."""
        return self._index.row_for_event_id(event_id)

    def row_dict(self, row: int) -> dict[str, Any] | None:
        """The whole `events` row (payload included) shown at `row`, read now."""
        seq = self.seq_at(row)
        return None if seq is None else self._index.event(seq)

    # --- marks -------------------------------------------------------------------------------------------------------

    def toggle_mark(self, row: int) -> bool | None:
        """Mark the event at `row`, or unmark it if marked; written to the capture at once (by the index). Returns the
        new state, or None when there is no such row or the mark could not be written (`markFailed` says why)."""
        found = self._index.row(row) if 0 <= row < len(self._index.seqs) else None
        if found is None:
            return None
        event_id, marked = str(found.id), not found.marked
        try:
            self._index.set_mark(event_id, marked)
        except MarkFailed as exc:
            self.markFailed.emit(str(exc))
            return None
        self._index.forget_page_of(row)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self._columns) - 1))
        self.markToggled.emit(event_id, marked)
        return marked

    # --- live tail ---------------------------------------------------------------------------------------------------

    def refresh(self) -> bool:
        """Take in what other connections committed since the last look (the window calls this on a short timer):
        events that now match are inserted (new ones appended in one batch), and rows already read are read again so
        changed statuses show. Cheap when nothing changed. Returns whether anything did."""
        if self._loading:
            return False  # the loader stops at the seq it started from; the next refresh takes the rest
        change = self._index.refresh()
        if change is None:
            return False
        self._reread_cached_rows()
        if change.reload:
            self._start_load()
            return True
        for seq in change.came_to_match:
            self._insert_seq(seq)
        if change.new:
            self._append(change.new)
        return True

    def _insert_seq(self, seq: int) -> None:
        row = self._index.position_for(seq)
        self.beginInsertRows(QModelIndex(), row, row)
        self._index.insert(row, seq)
        self.endInsertRows()

    def _append(self, seqs: Sequence[int]) -> None:
        """Add rows at the end in one insertion."""
        if not seqs:
            return
        first = len(self._index.seqs)
        self.beginInsertRows(QModelIndex(), first, first + len(seqs) - 1)
        self._index.append(seqs)
        self.endInsertRows()

    def _reread_cached_rows(self) -> None:
        """Forget the cached pages and tell views their rows changed (only those can be on screen)."""
        ranges = self._index.forget_pages()
        if not ranges or not self._columns:
            return
        rows = len(self._index.seqs)
        last_col = len(self._columns) - 1
        start = prev = ranges[0]
        for page in [*ranges[1:], None]:
            if page is not None and page == prev + 1:
                prev = page
                continue
            first_row = start * PAGE_SIZE
            last_row = min((prev + 1) * PAGE_SIZE, rows) - 1
            if last_row >= first_row:
                self.dataChanged.emit(self.index(first_row, 0), self.index(last_row, last_col))
            if page is not None:
                start = prev = page

    # --- loading -----------------------------------------------------------------------------------------------------

    def finish_loading(self) -> None:
        """Load the rest of the matching rows now (for scripts and tests; the window lets the timer do it)."""
        while self._loading:
            self._load_step(budget=3600.0)

    def _start_load(self) -> None:
        """Forget the rows and read the matching seqs again: the first step now, the rest from the timer."""
        if self._index.closed:
            return
        self._timer.stop()
        self.beginResetModel()
        self._index.start()
        was_loading = self._loading
        self._loading = self._index.loading
        self.endResetModel()
        if was_loading != self._loading:
            self.loadingChanged.emit(self._loading)
        if self._loading:
            self._load_step(budget=FIRST_STEP_BUDGET, first=True)
        else:
            self._finish()

    def _on_timer_timeout(self) -> None:
        if self._loading:
            self._load_step(budget=STEP_BUDGET)

    def _load_step(self, budget: float, first: bool = False) -> None:
        """Read matching seqs for about `budget` seconds and insert them as one batch of rows."""
        if self._index.closed:
            return
        step = self._index.step(budget, first)
        if step.error is not None:
            self.filterFailed.emit(step.error, 0, len(self._filter_text))
        self._append(step.found)
        if step.done:
            self._finish()
        else:
            self.rowsLoaded.emit(len(self._index.seqs), -1)
            self._timer.start()

    def _finish(self) -> None:
        was_loading = self._loading
        self._loading = False
        if was_loading:
            self.loadingChanged.emit(False)
        count = len(self._index.seqs)
        self.rowsLoaded.emit(count, count)
        self.filterApplied.emit(count)
        # The previous list's cached rows, kept while this one loaded, freed once the window is idle again.
        QTimer.singleShot(0, self._index.release)

    # --- rows --------------------------------------------------------------------------------------------------------

    def _tooltip(self, row: _Row) -> str:
        lines = [f"{row.trigger_name} · {row.op} · {row.status}", f"Event {row.id}"]
        if row.created_at:
            lines.append(f"Created {_local_time(row.created_ts)} (Hasura: {row.created_at})")
        if row.next_retry_at:
            lines.append(f"Next retry at {row.next_retry_at}")
        if row.successes and row.successes > 1:
            lines.append(f"Delivered {row.successes} times")
        if row.flags:
            lines.append(f"Flags: {row.flags}")
        rule = self._index.compiled_rules.rule_at(row.rule)
        if rule is not None:
            lines.append(f"Colouring rule: {rule.name}")
        if row.marked:
            lines.append("Marked")
        return "\n".join(lines)

    def _emit_all_changed(self, roles: list[int]) -> None:
        rows = len(self._index.seqs)
        if rows and self._columns:
            self.dataChanged.emit(self.index(0, 0), self.index(rows - 1, len(self._columns) - 1), roles)

    # --- closing -----------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop loading and close the connection; the model shows no rows afterwards."""
        if self._index.closed:
            return
        self._timer.stop()
        self.beginResetModel()
        self._index.clear()
        self._loading = False
        self.endResetModel()
        self._index.close()


def _alignment(column: Column) -> Qt.AlignmentFlag:
    return _ALIGNMENTS[column.key]


# --- following the tail ----------------------------------------------------------------------------------------------


class LiveTail(QObject):
    """Keeps a table view at the bottom of an event list while it follows a live capture.

    Following stops when the user scrolls up (the scroll bar leaves its maximum) and starts again when they scroll back
    to the bottom (or `set_following(True)`); while following, every insertion of rows scrolls to the new bottom.
    While held (`set_held`: the pointer is over the list) rows arriving do not scroll it, so the row under the pointer
    stays there until the pointer leaves; then it catches up.
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
        self._held = False
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

    @property
    def held(self) -> bool:
        return self._held

    def set_held(self, held: bool) -> None:
        """Hold the list still (the pointer is over it) or let it follow again (and catch up)."""
        self._held = held
        if not held and self._following:
            self._scroll_to_bottom()

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
        if self._following and not self._held:
            self._scroll_to_bottom()

    def _on_model_about_to_be_reset(self) -> None:
        self._resetting = True

    def _on_model_reset(self) -> None:
        self._resetting = False
        if self._following and not self._held:
            self._scroll_to_bottom()

    def _on_scrollbar_value_changed(self, value: int) -> None:
        if self._resetting or self._scrolling:
            return
        self._set(value >= self._view.verticalScrollBar().maximum())
