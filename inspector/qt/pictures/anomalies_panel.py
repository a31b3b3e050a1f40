"""The anomalies panel: Wireshark's expert information for event triggers. What at-least-once, unordered delivery did
in a capture (duplicates, out-of-order processing, retries, dead letters, long-pending events, cold starts, handler
contract breaks), grouped by kind with a count, most severe kinds first, each with its severity, message, trigger,
row key and time; identical lines of a kind are gathered into one with a count (expand it to see each).
Double-click or Enter on one selects its event in the event list. Kinds, their titles and
severities come from the anomaly detectors' registry (`inspector.services.analysis.detectors`).

Owns the items made from a sequence of `inspector.core.flows.Anomaly`; `show_anomalies` can be called on every
refresh of a live capture (groups keep their expanded state and the current item stays current). Used by
`FlowsPanel`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPixmap, QPolygonF
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from inspector.core.flows import Anomaly
from inspector.qt.pictures.picture_style import (
    SEVERITY_COLOURS,
    SEVERITY_ORDER,
    format_clock,
    mark_style,
)
from inspector.qt.roles import EVENT_ID_ROLE
from inspector.services.analysis.detectors import detector, detectors

GROUP_ROLE = int(Qt.ItemDataRole.UserRole) + 60
"""On group items: the anomaly kind."""
LINE_ROLE = int(Qt.ItemDataRole.UserRole) + 61
"""On the items that gather identical lines of a kind: (kind, message)."""
MAX_PER_KIND = 2_000
"""Anomalies listed per kind; the group says how many more there are."""
COLUMNS = ("Anomaly", "Trigger", "Row key", "Time")


def severity_icon(severity: str, size: int = 16) -> QIcon:
    """A coloured sign per severity: a red disc with ✕ (error), an amber triangle with ! (warning), a blue disc with i
    (info); shapes differ so colour is not the only cue."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    colour = QColor(SEVERITY_COLOURS.get(severity, "#777777"))
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    inset = 1.0
    box = QRectF(inset, inset, size - 2 * inset, size - 2 * inset)
    if severity == "warning":
        painter.drawPolygon(
            QPolygonF([QPointF(size / 2, inset), QPointF(size - inset, size - inset), QPointF(inset, size - inset)])
        )
        glyph, glyph_box = "!", box.adjusted(0, size * 0.18, 0, 0)
    else:
        painter.drawEllipse(box)
        glyph, glyph_box = ("✕" if severity == "error" else "i"), box
    font = QFont()
    font.setBold(True)
    font.setPixelSize(int(size * 0.62))
    painter.setFont(font)
    painter.setPen(QColor("#FFFFFF"))
    painter.drawText(glyph_box, Qt.AlignmentFlag.AlignCenter, glyph)
    painter.end()
    return QIcon(pixmap)


def group_anomalies(anomalies: Sequence[Anomaly]) -> list[tuple[str, list[Anomaly]]]:
    """Anomalies by kind: kinds with the most severe anomaly first (then by count, then name), each kind's anomalies
    by severity then time."""
    groups: dict[str, list[Anomaly]] = defaultdict(list)
    for anomaly in anomalies:
        groups[anomaly.kind].append(anomaly)
    for items in groups.values():
        items.sort(key=lambda a: (SEVERITY_ORDER.get(a.severity, 9), a.at if a.at is not None else float("inf")))

    def rank(kind: str) -> tuple[int, int, str]:
        return (min(SEVERITY_ORDER.get(a.severity, 9) for a in groups[kind]), -len(groups[kind]), kind)

    return [(kind, groups[kind]) for kind in sorted(groups, key=rank)]


def line_head(message: str) -> str:
    """What makes two anomaly lines the same: the message before its parenthesised figures, which differ from event
    to event (`delivered 2 times (2 answers 2xx in 2 attempts, 400 ms apart): …` → `delivered 2 times`)."""
    return message.split(" (", 1)[0].strip() or message


def identical_lines(items: Sequence[Anomaly]) -> list[tuple[str, list[Anomaly]]]:
    """A kind's anomalies gathered by `line_head` (e.g. 28 of "delivered 2 times"), in the order each head first
    appears, each group in the order given; a group of one keeps its whole message."""
    lines: dict[str, list[Anomaly]] = {}
    for anomaly in items:
        lines.setdefault(line_head(anomaly.message), []).append(anomaly)
    return [(head if len(same) > 1 else same[0].message, same) for head, same in lines.items()]


def kind_title(kind: str) -> str:
    """The group title of a kind: its detector's `title` (`inspector.services.analysis.detectors`), else its mark's."""
    found = detector(kind)
    return found.title if found is not None else mark_style(kind).title


def kind_titles() -> dict[str, str]:
    """Every registered anomaly kind's group title, in the registry's order."""
    return {found.kind: found.title for found in detectors()}


class AnomaliesPanel(QTreeWidget):
    """Anomalies grouped by kind; activating one (double-click, Enter) says which event it is about."""

    eventSelected = Signal(str)
    """The event id of the anomaly the user activated."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.setUniformRowHeights(True)
        self.setRootIsDecorated(True)
        self.setAlternatingRowColors(True)
        self.setSortingEnabled(False)
        header = self.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        for column, width in ((1, 170), (2, 300), (3, 100)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            self.setColumnWidth(column, width)
        self._icons = {severity: severity_icon(severity) for severity in SEVERITY_COLOURS}
        self._collapsed: set[str] = set()
        self._expanded_lines: set[tuple[str, str]] = set()
        """Groups of identical lines the user opened (they start closed)."""
        self._signature: tuple[Anomaly, ...] | None = None
        self._items: list[QTreeWidgetItem] = []
        self.itemActivated.connect(self._on_item_activated)
        self.itemCollapsed.connect(lambda item: self._remember(item, collapsed=True))
        self.itemExpanded.connect(lambda item: self._remember(item, collapsed=False))
        self.setToolTip("Double-click an anomaly (or press Enter) to select its event in the list")
        self.show_anomalies(())

    def show_anomalies(self, anomalies: Sequence[Anomaly]) -> None:
        signature = tuple(anomalies)
        if signature == self._signature:
            return
        self._signature = signature
        current = self.currentItem()
        current_key = _key(current) if current is not None else None
        self.clear()
        self._items = []
        if not anomalies:
            empty = QTreeWidgetItem(self, ["No anomalies found: every event was delivered once, in order, first time."])
            empty.setFlags(Qt.ItemFlag.NoItemFlags)
            return
        restore: QTreeWidgetItem | None = None
        for kind, items in group_anomalies(anomalies):
            group = self._group_item(kind, items)
            for message, same in identical_lines(items[:MAX_PER_KIND]):
                parent = group if len(same) == 1 else self._lines_item(group, kind, message, same)
                for anomaly in same:
                    child = self._anomaly_item(parent, anomaly)
                    if current_key is not None and _key(child) == current_key:
                        restore = child
                if parent is not group:
                    parent.setExpanded((kind, message) in self._expanded_lines)
            if len(items) > MAX_PER_KIND:
                more = QTreeWidgetItem(group, [f"… {len(items) - MAX_PER_KIND:,} more (filter the list by flags)"])
                more.setFlags(Qt.ItemFlag.ItemIsEnabled)
            group.setExpanded(kind not in self._collapsed)
        if restore is not None:
            lines = restore.parent()
            if lines is not None and lines.data(0, LINE_ROLE) and not lines.isExpanded():
                self.setCurrentItem(lines)
            else:
                self.setCurrentItem(restore)

    def _group_item(self, kind: str, items: Sequence[Anomaly]) -> QTreeWidgetItem:
        counts: dict[str, int] = defaultdict(int)
        for anomaly in items:
            counts[anomaly.severity] += 1
        worst = min(counts, key=lambda s: SEVERITY_ORDER.get(s, 9))
        detail = ", ".join(
            f"{counts[s]:,} {s}{'s' if counts[s] != 1 and s != 'info' else ''}"
            for s in sorted(counts, key=lambda s: SEVERITY_ORDER.get(s, 9))
        )
        if len(counts) > 1:
            detail = f"{len(items):,}: {detail}"
        group = QTreeWidgetItem(self, [f"{kind_title(kind)} · {detail}"])
        group.setIcon(0, self._icons.get(worst, QIcon()))
        group.setData(0, GROUP_ROLE, kind)
        font = group.font(0)
        font.setBold(True)
        group.setFont(0, font)
        group.setToolTip(0, mark_style(kind).meaning)
        group.setFlags(Qt.ItemFlag.ItemIsEnabled)
        return group

    def _lines_item(self, group: QTreeWidgetItem, kind: str, message: str, same: Sequence[Anomaly]) -> QTreeWidgetItem:
        """One line standing for `same`, anomalies of one kind with one message: the message with a count, the
        trigger and row key when they share one (else how many), the first time; expand it to see each."""
        triggers = sorted({a.trigger or "" for a in same})
        keys = sorted({a.row_key or "" for a in same})
        item = QTreeWidgetItem(
            group,
            [
                f"{message} · {len(same):,} events",
                triggers[0] if len(triggers) == 1 else f"{len(triggers)} triggers",
                keys[0] if len(keys) == 1 else f"{len(keys):,} rows",
                format_clock(min((a.at for a in same if a.at is not None), default=None)),
            ],
        )
        worst = min((a.severity for a in same), key=lambda s: SEVERITY_ORDER.get(s, 9))
        item.setIcon(0, self._icons.get(worst, QIcon()))
        item.setData(0, LINE_ROLE, (kind, message))
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        item.setToolTip(0, f"{len(same):,} anomalies with this message; expand to see each one and its event")
        item.setToolTip(2, ", ".join(keys[:20]) + (" …" if len(keys) > 20 else ""))
        return item

    def _anomaly_item(self, group: QTreeWidgetItem, anomaly: Anomaly) -> QTreeWidgetItem:
        item = QTreeWidgetItem(
            group, [anomaly.message, anomaly.trigger or "", anomaly.row_key or "", format_clock(anomaly.at)]
        )
        item.setIcon(0, self._icons.get(anomaly.severity, QIcon()))
        if anomaly.severity == "error":
            item.setForeground(0, QBrush(QColor(SEVERITY_COLOURS["error"])))
        item.setData(0, EVENT_ID_ROLE, anomaly.event_id)
        self._items.append(item)
        tip = f"<b>{anomaly.severity}</b>: {anomaly.message}"
        if anomaly.event_id:
            tip += f"<br>event {anomaly.event_id}<br><i>Double-click or press Enter to select it in the list</i>"
        item.setToolTip(0, tip)
        item.setToolTip(2, anomaly.row_key or "")
        return item

    def _remember(self, item: QTreeWidgetItem, *, collapsed: bool) -> None:
        line = item.data(0, LINE_ROLE)
        if line:
            key = (str(line[0]), str(line[1]))
            (self._expanded_lines.discard if collapsed else self._expanded_lines.add)(key)
            return
        kind = item.data(0, GROUP_ROLE)
        if kind:
            (self._collapsed.add if collapsed else self._collapsed.discard)(str(kind))

    def _on_item_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        event_id = item.data(0, EVENT_ID_ROLE)
        if event_id:
            self.eventSelected.emit(str(event_id))

    def anomaly_items(self) -> list[QTreeWidgetItem]:
        """The items of single anomalies (not groups), top to bottom."""
        return list(self._items)


def _key(item: QTreeWidgetItem) -> tuple[str, ...]:
    return (*(item.text(column) for column in range(len(COLUMNS))), str(item.data(0, EVENT_ID_ROLE)))
