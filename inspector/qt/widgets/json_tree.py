"""A tree of any JSON value, Wireshark's detail pane for JSON: copy value, copy path, apply as filter.

Owns the items of one JSON value (built lazily: a container's children are made when it is first expanded, a page at
a time for big arrays), their paths and the filter expressions made from them. Used by the detail pane for event
payloads, invocation requests and response bodies.

Paths (JSON_PATH_ROLE, "Copy path") join keys with dots and indexes with brackets: `data.new.order_id`,
`data.new.items[0]`; a key that is not a plain name (letters, digits, `_`, `-`, not starting with a digit or `-`) is
quoted: `data.new["unit price"]`.

Filter expressions ("Apply as filter", `filterRequested`) are in the display-filter language of
`inspector.core.filter`. A field function given to the tree maps an item's keys to a field of that language, or to
None when the language has no field for it:

- `event_field` for an event payload (the `event` object): `op`, `data.new.<path>` / `data.old.<path>` (keys of
  letters, digits and `_`, `[n]` for array items), `session.<var>` for session variables, `trace_id`.
- `webhook_body_field` for the body Hasura POSTs: `event.*` as above, `id`, `trigger.name` → `trigger`,
  `table.name` → `table`, `created_at`.

A scalar gives `<field> == <value>` (`data.new.order_id == "abc"`, `data.old.approved == false`,
`data.new.total == 12.5`, `data.old.approved_at == null`, `session.x-hasura-user-id == "u1"`), strings quoted with
the language's escapes; an object or array gives the bare field, a presence test (`data.new.items`). Every
expression is checked with the language's own `check` before it is offered.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QAction, QBrush, QFontDatabase, QGuiApplication, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from inspector.core.filter import MAX_LENGTH
from inspector.core.filter import find_error as check
from inspector.qt.roles import JSON_PATH_ROLE, JSON_VALUE_ROLE
from inspector.qt.widgets.highlighters import SyntaxColours, syntax_colours

Key = str | int
"""One step of a path: an object key or an array index."""

FieldFunction = Callable[[Sequence[Key]], str | None]
"""Maps an item's keys (from the tree's root) to a display-filter field, or None when it has none."""

DISPLAY_LIMIT = 2_000
"""Characters of a string shown in the tree; the rest is announced ("… (N more characters)") and copied whole."""
PAGE_SIZE = 500
"""Children of a container added at a time; a "show more" item adds the next page."""
AUTO_EXPAND_LIMIT = 100
"""Containers with more children than this are left collapsed when the tree opens."""
EXPAND_ALL_LIMIT = 20_000
"""Items "Expand all" creates at most, so that a huge payload cannot freeze the window."""
PREVIEW_LIMIT = 160
"""Characters of the one-line preview of a collapsed object or array."""

KEY_COLUMN, VALUE_COLUMN, TYPE_COLUMN = 0, 1, 2

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


# --- paths, kinds, text (pure) ---------------------------------------------------------------------------------------


def path_step(key: Key) -> str:
    """One step of a path as text, without the leading dot: `order_id`, `[0]`, `["unit price"]`."""
    if isinstance(key, int):
        return f"[{key}]"
    if _PLAIN_KEY.match(key):
        return key
    return f"[{json.dumps(key, ensure_ascii=False)}]"


def join_path(parent: str, key: Key) -> str:
    """`parent` extended by one key: `data.new` + `order_id` → `data.new.order_id`; + 0 → `data.new[0]`."""
    step = path_step(key)
    if not parent or step.startswith("["):
        return parent + step
    return f"{parent}.{step}"


def path_of(keys: Sequence[Key], root: str = "") -> str:
    path = root
    for key in keys:
        path = join_path(path, key)
    return path


def json_kind(value: Any) -> str:
    """object, array, string, number, boolean or null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return "string"  # anything else is shown as its text


def json_literal(value: Any) -> str:
    """A scalar as JSON text (strings quoted, with escapes, non-ASCII kept)."""
    return json.dumps(value, ensure_ascii=False)


def shorten(text: str, limit: int = DISPLAY_LIMIT) -> str:
    """`text` cut to `limit` characters, with the number of characters left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def display_value(value: Any, limit: int = DISPLAY_LIMIT) -> str:
    """The one-line text of a value in the tree: JSON literals for scalars (a long string cut after `limit`
    characters, never escaped in full), a preview for containers."""
    if isinstance(value, str):
        if len(value) <= limit:
            return json_literal(value)
        return f'{json_literal(value[:limit])[:-1]}…" ({len(value) - limit:,} more characters)'
    if isinstance(value, dict | list | tuple):
        return preview(value)
    if value is None or isinstance(value, bool | int | float):
        return json_literal(value)
    return str(value)


def preview(value: Any, limit: int = PREVIEW_LIMIT) -> str:
    """A short one-line summary of a container: `{"order_id": "o-42", "items": […], …}`."""
    if not isinstance(value, dict | list | tuple):
        return display_value(value, limit=limit)
    is_object = isinstance(value, dict)
    pairs: Iterator[tuple[Any, Any]] = iter(value.items()) if isinstance(value, dict) else enumerate(value)
    parts: list[str] = []
    used = 2
    for key, item in pairs:
        if isinstance(item, dict):
            text = "{…}" if item else "{}"
        elif isinstance(item, list | tuple):
            text = "[…]" if item else "[]"
        else:
            text = display_value(item, limit=40)
        if is_object:
            text = f"{json_literal(key)}: {text}"
        if used + len(text) > limit:
            parts.append("…")
            break
        parts.append(text)
        used += len(text) + 2
    inner = ", ".join(parts)
    return f"{{{inner}}}" if is_object else f"[{inner}]"


def type_text(value: Any) -> str:
    kind = json_kind(value)
    if kind in ("object", "array"):
        return f"{kind} ({len(value):,})"
    if kind == "string" and len(value) > DISPLAY_LIMIT:
        return f"string ({len(value):,} chars)"
    return kind


def copy_text(value: Any) -> str:
    """What "Copy value" puts on the clipboard: a string as is (all of it), anything else as JSON text (objects and
    arrays pretty-printed)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, indent=2)
    return json_literal(value)


_FILTER_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def filter_string(text: str) -> str:
    r"""A string literal of the filter language: double quotes, with its escapes (`\\ \" \n \t \r \0 \xHH \uHHHH`)
    for backslashes, quotes and control characters; other characters as they are."""
    out = []
    for char in text:
        if char in _FILTER_ESCAPES:
            out.append(_FILTER_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        elif char in "\u2028\u2029":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def filter_literal(value: Any) -> str | None:
    """A scalar as a value of the filter language, or None when it has none (NaN, infinity)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return None if value != value or value in (float("inf"), float("-inf")) else repr(value)
    return filter_string(str(value))


def filter_expression(field: str, value: Any) -> str | None:
    """The display-filter expression selecting events whose `field` has this value (presence for containers);
    None when the value cannot be written in the language or the expression would be longer than it accepts."""
    if isinstance(value, dict | list | tuple):
        return field
    if isinstance(value, str) and len(value) > MAX_LENGTH:  # too long to write, and no use to quote in full
        return None
    literal = filter_literal(value)
    if literal is None:
        return None
    expression = f"{field} == {literal}"
    return expression if len(expression) <= MAX_LENGTH else None


_FILTER_KEY = re.compile(r"[A-Za-z0-9_]+\Z")
"""A column or key the filter language can name in `data.new.<path>` (letters, digits and `_`)."""
_FILTER_SESSION_VAR = re.compile(r"[A-Za-z0-9_\-]+\Z")


def _row_path(keys: Sequence[Key]) -> str | None:
    """`data.new` / `data.old` and the keys below as a filter field, or None when a key cannot be written in it."""
    field = f"data.{keys[0]}"
    for key in keys[1:]:
        if isinstance(key, int):
            field += f"[{key}]"
        elif _FILTER_KEY.match(key):
            field += f".{key}"
        else:
            return None
    return field


def event_field(keys: Sequence[Key]) -> str | None:
    """The filter field of an item of an event payload (the `event` object), in `inspector.core.filter`'s terms:
    `op`; `data.new.<path>` and `data.old.<path>`; `session.<var>` for a session variable; `trace_id`. None for the
    rest (the language has no field for them)."""
    keys = tuple(keys)
    if keys == ("op",):
        return "op"
    if len(keys) >= 2 and keys[0] == "data" and keys[1] in ("new", "old"):
        return _row_path(keys[1:])
    if len(keys) == 2 and keys[0] == "session_variables" and isinstance(keys[1], str):
        return f"session.{keys[1]}" if _FILTER_SESSION_VAR.match(keys[1]) else None
    if keys == ("trace_context", "trace_id"):
        return "trace_id"
    return None


_WEBHOOK_FIELDS: dict[tuple[Key, ...], str] = {
    ("id",): "id",
    ("trigger", "name"): "trigger",
    ("table", "name"): "table",
    ("created_at",): "created_at",
}


def webhook_body_field(keys: Sequence[Key]) -> str | None:
    """The filter field of an item of a webhook body (`{id, table, trigger, event, delivery_info, created_at}`):
    `event.*` as `event_field`, `id`, `trigger.name` → `trigger`, `table.name` → `table`, `created_at`."""
    if len(keys) > 1 and keys[0] == "event":
        return event_field(keys[1:])
    return _WEBHOOK_FIELDS.get(tuple(keys))


def _children(item: QTreeWidgetItem) -> list[QTreeWidgetItem]:
    return [child for child in (item.child(i) for i in range(item.childCount())) if child is not None]


def _on_path(candidate: str, path: str) -> bool:
    """Whether `candidate` is `path` or one of its ancestors (`data.new` of `data.new.x`, not of `data.newer`)."""
    return candidate == path or path.startswith(candidate + ".") or path.startswith(candidate + "[")


def filter_for_keys(keys: Sequence[Key], value: Any, field_function: FieldFunction = event_field) -> str | None:
    """The filter expression for the value at `keys`, or None when the language cannot express it."""
    field = field_function(keys)
    expression = None if field is None else filter_expression(field, value)
    # The language is the judge: what it would reject is not offered (the filter bar would only show it red).
    return expression if expression is not None and check(expression) is None else None


# --- the widget ------------------------------------------------------------------------------------------------------


class JsonTreeItem(QTreeWidgetItem):
    """One JSON value in the tree. Keeps the Python value itself: a QVariant would reorder object keys and overflow
    on big integers, so JSON_PATH_ROLE and JSON_VALUE_ROLE are answered here, from the item (`item.data(0, role)`)."""

    def __init__(self, keys: tuple[Key, ...], path: str, value: Any) -> None:
        super().__init__()
        self.keys = keys
        self.path = path
        self.value = value
        self.populated = False
        self.next_child = 0
        """Index of the next child to add (containers are filled a page at a time)."""

    @property
    def is_container(self) -> bool:
        return isinstance(self.value, dict | list | tuple) and len(self.value) > 0

    def data(self, column: int, role: int) -> Any:
        if role == JSON_PATH_ROLE:
            return self.path
        if role == JSON_VALUE_ROLE:
            return self.value
        return super().data(column, role)


class MoreItem(QTreeWidgetItem):
    """The "show N more" row at the end of a container filled only in part; activating it adds the next page."""

    def __init__(self, owner: JsonTreeItem | None) -> None:
        super().__init__()
        self.owner = owner


class JsonTreeWidget(QTreeWidget):
    """Shows one JSON value as a tree of key, value and type, coloured by type.

    `set_json(value, root_path)` shows a value; `field_function` (default `event_field`; None for values that have no
    filter fields) turns an item into a filter expression, emitted by "Apply as filter" as `filterRequested`.
    """

    filterRequested = Signal(str)
    """A display-filter expression for the current item ("Apply as filter")."""

    def __init__(
        self,
        parent: QWidget | None = None,
        field_function: FieldFunction | None = event_field,
        expand_depth: int = 2,
    ) -> None:
        super().__init__(parent)
        self.field_function = field_function
        self.expand_depth = expand_depth
        self._value: Any = None
        self._root_path = ""
        self._root: JsonTreeItem | None = None
        """The root value as an item not shown in the tree (its children are the top-level items)."""
        self._colours: SyntaxColours = syntax_colours(self.palette())

        self.setColumnCount(3)
        self.setHeaderLabels(["Key", "Value", "Type"])
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setExpandsOnDoubleClick(True)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(KEY_COLUMN, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(VALUE_COLUMN, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(TYPE_COLUMN, QHeaderView.ResizeMode.Interactive)
        metrics = self.fontMetrics()
        self.setColumnWidth(KEY_COLUMN, metrics.horizontalAdvance("x" * 22))
        self.setColumnWidth(TYPE_COLUMN, metrics.horizontalAdvance("string (10,000,000 chars)") + 12)
        self._value_font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

        self.copy_value_action = self._action("Copy value", QKeySequence.StandardKey.Copy, self.copy_value)
        self.copy_path_action = self._action("Copy path", QKeySequence("Ctrl+Shift+C"), self.copy_path)
        self.apply_filter_action = self._action("Apply as filter", QKeySequence("Ctrl+Shift+F"), self.apply_as_filter)
        self.expand_subtree_action = self._action("Expand subtree", QKeySequence("Shift+Right"), self.expand_subtree)
        self.expand_all_action = self._action("Expand all", QKeySequence("Ctrl+Right"), self.expand_all)
        self.collapse_all_action = self._action("Collapse all", QKeySequence("Ctrl+Left"), self.collapseAll)

        self.itemExpanded.connect(self._on_tree_item_expanded)
        self.itemActivated.connect(self._on_tree_item_activated)
        self.customContextMenuRequested.connect(self._on_tree_context_menu_requested)
        self.currentItemChanged.connect(self._update_actions)
        self._update_actions()

    def _action(self, text: str, shortcut: QKeySequence | QKeySequence.StandardKey, slot: Callable[[], Any]) -> QAction:
        action = QAction(text, self)
        action.setShortcut(shortcut)
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # only while the tree has focus
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    # --- content ---------------------------------------------------------------------------------------------------

    def set_json(self, value: Any, root_path: str = "") -> None:
        """Show `value`; paths start at `root_path` (e.g. `request.payload`). The top-level keys (or indexes) are the
        top-level items; a scalar is one item."""
        self.clear()
        self._value = value
        self._root_path = root_path
        self._colours = syntax_colours(self.palette())
        root = JsonTreeItem((), root_path, value)
        self._root = root
        if isinstance(value, dict | list | tuple):
            self._add_children(root, self.invisibleRootItem())
            self._expand_to_depth(self.invisibleRootItem(), 0)
        else:
            root.setText(KEY_COLUMN, "(value)")
            self._decorate(root)
            self.addTopLevelItem(root)
        self._update_actions()

    def json_value(self) -> Any:
        """The value shown."""
        return self._value

    def clear(self) -> None:
        super().clear()
        self._value = None
        self._root = None

    def items(self) -> Iterator[JsonTreeItem]:
        """Every item made so far (children of unexpanded containers are made on demand), depth first."""
        stack: list[QTreeWidgetItem] = [self.invisibleRootItem()]
        while stack:
            item = stack.pop()
            if isinstance(item, JsonTreeItem):
                yield item
            stack.extend(_children(item)[::-1])

    def find_path(self, path: str) -> JsonTreeItem | None:
        """The item with this path, making the items on the way (expanding nothing); None if there is none."""
        owner, parent = self._root, self.invisibleRootItem()
        while owner is not None:
            found = None
            while found is None:
                found = next(
                    (
                        child
                        for child in _children(parent)
                        if isinstance(child, JsonTreeItem) and _on_path(child.path, path)
                    ),
                    None,
                )
                if found is None:
                    if not owner.is_container or owner.next_child >= len(owner.value):
                        return None
                    self._add_children(owner, parent)  # the next page may hold it
            if found.path == path:
                return found
            self._populate(found)
            owner, parent = found, found
        return None

    def _add_children(self, owner: JsonTreeItem, parent: QTreeWidgetItem) -> None:
        """Add the next page of `owner`'s children under `parent` (the tree's invisible root for the root value)."""
        value = owner.value
        total = len(value)
        last = parent.child(parent.childCount() - 1) if parent.childCount() else None
        if isinstance(last, MoreItem):
            parent.removeChild(last)
        start, stop = owner.next_child, min(owner.next_child + PAGE_SIZE, total)
        entries: Iterable[tuple[Key, Any]] = (
            itertools.islice(value.items(), start, stop)
            if isinstance(value, dict)
            else enumerate(value[start:stop], start)
        )
        children = []
        for key, child_value in entries:
            keys = (*owner.keys, key)
            child = JsonTreeItem(keys, join_path(owner.path, key), child_value)
            child.setText(KEY_COLUMN, f"[{key}]" if isinstance(key, int) else key)
            self._decorate(child)
            children.append(child)
        parent.addChildren(children)
        owner.next_child = stop
        owner.populated = True
        if stop < total:
            more = MoreItem(owner if parent is not self.invisibleRootItem() else None)
            more.setText(KEY_COLUMN, "…")
            more.setText(VALUE_COLUMN, f"{total - stop:,} more — double-click to show {min(PAGE_SIZE, total - stop):,}")
            more.setForeground(VALUE_COLUMN, QBrush(self._colours.muted))
            parent.addChild(more)

    def _decorate(self, item: JsonTreeItem) -> None:
        value = item.value
        kind = json_kind(value)
        colours = self._colours
        item.setText(VALUE_COLUMN, display_value(value))
        item.setText(TYPE_COLUMN, type_text(value))
        item.setFont(VALUE_COLUMN, self._value_font)
        item.setForeground(TYPE_COLUMN, QBrush(colours.muted))
        item.setForeground(KEY_COLUMN, QBrush(colours.key))
        colour = {
            "string": colours.string,
            "number": colours.number,
            "boolean": colours.literal,
            "null": colours.literal,
        }.get(kind, colours.muted)
        item.setForeground(VALUE_COLUMN, QBrush(colour))
        tooltip = display_value(value, limit=500) if kind != "object" and kind != "array" else item.path
        item.setToolTip(VALUE_COLUMN, tooltip)
        item.setToolTip(KEY_COLUMN, item.path)
        if item.is_container:
            item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)

    def _populate(self, item: JsonTreeItem) -> None:
        if item.is_container and not item.populated:
            self._add_children(item, item)

    def _expand_to_depth(self, parent: QTreeWidgetItem, depth: int) -> None:
        if depth >= self.expand_depth:
            return
        for i in range(parent.childCount()):
            child = parent.child(i)
            if isinstance(child, JsonTreeItem) and child.is_container and len(child.value) <= AUTO_EXPAND_LIMIT:
                self._populate(child)
                child.setExpanded(True)
                self._expand_to_depth(child, depth + 1)

    # --- actions ---------------------------------------------------------------------------------------------------

    def current_json_item(self) -> JsonTreeItem | None:
        item = self.currentItem()
        return item if isinstance(item, JsonTreeItem) else None

    def copy_value(self) -> None:
        """Put the current item's value on the clipboard, all of it (JSON text for objects and arrays)."""
        item = self.current_json_item()
        if item is not None:
            QGuiApplication.clipboard().setText(copy_text(item.value))

    def copy_path(self) -> None:
        item = self.current_json_item()
        if item is not None:
            QGuiApplication.clipboard().setText(item.path)

    def filter_for(self, item: JsonTreeItem) -> str | None:
        """The display-filter expression for an item, or None when it has no field in the filter language."""
        if self.field_function is None:
            return None
        return filter_for_keys(item.keys, item.value, self.field_function)

    def apply_as_filter(self) -> None:
        item = self.current_json_item()
        expression = None if item is None else self.filter_for(item)
        if expression is not None:
            self.filterRequested.emit(expression)

    def expand_subtree(self) -> None:
        item = self.current_json_item()
        if item is not None:
            self._expand_recursively(item, [EXPAND_ALL_LIMIT])

    def expand_all(self) -> None:
        """Expand everything, making at most EXPAND_ALL_LIMIT items (further pages stay behind "show more")."""
        budget = [EXPAND_ALL_LIMIT]
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if isinstance(item, JsonTreeItem):
                self._expand_recursively(item, budget)

    def _expand_recursively(self, item: JsonTreeItem, budget: list[int]) -> None:
        stack = [item]
        while stack and budget[0] > 0:
            current = stack.pop()
            if not current.is_container:
                continue
            before = current.childCount()
            self._populate(current)
            current.setExpanded(True)
            budget[0] -= current.childCount() - before
            stack.extend(child for child in reversed(_children(current)) if isinstance(child, JsonTreeItem))

    def _update_actions(self) -> None:
        item = self.current_json_item()
        has_item = item is not None
        self.copy_value_action.setEnabled(has_item)
        self.copy_path_action.setEnabled(has_item)
        self.apply_filter_action.setEnabled(item is not None and self.filter_for(item) is not None)
        self.expand_subtree_action.setEnabled(item is not None and item.is_container)

    # --- events ----------------------------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # QAbstractItemView copies the display text on Ctrl+C (cut to DISPLAY_LIMIT); copy the whole value instead.
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy_value()
            event.accept()
            return
        super().keyPressEvent(event)

    def _on_tree_item_expanded(self, item: QTreeWidgetItem) -> None:
        if isinstance(item, JsonTreeItem):
            self._populate(item)

    def _on_tree_item_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        if isinstance(item, MoreItem):
            owner = item.owner if item.owner is not None else self._root
            parent = item.parent() or self.invisibleRootItem()
            if owner is not None:
                self._add_children(owner, parent)

    def _on_tree_context_menu_requested(self, position: QPoint) -> None:
        item = self.itemAt(position)
        if item is not None:
            self.setCurrentItem(item)
        self._update_actions()
        menu = QMenu(self)
        for action in (self.copy_value_action, self.copy_path_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.apply_filter_action)
        menu.addSeparator()
        for action in (self.expand_subtree_action, self.expand_all_action, self.collapse_all_action):
            menu.addAction(action)
        menu.exec(self.viewport().mapToGlobal(position))
