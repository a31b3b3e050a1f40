"""Syntax highlighting for JSON (the detail pane's Raw views) and GraphQL (the subscriptions console's editor).

Owns the colour scheme shared by every text and tree that shows JSON: one set of colours for light palettes and one
for dark, chosen from the lightness of the widget's palette so that both read (`syntax_colours`). Used by the detail
pane, the JSON tree, and the subscriptions console.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtGui import (
    QColor,
    QFont,
    QPalette,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextDocument,
)

HIGHLIGHT_LIMIT = 100_000
"""Characters of one line that get highlighted; the rest of a longer line (a 10 MB string) stays plain, so that a
huge payload does not freeze the window."""


@dataclass(frozen=True)
class SyntaxColours:
    """The colours of one scheme (light or dark)."""

    key: QColor
    """JSON object keys; GraphQL field names."""
    string: QColor
    """String literals."""
    number: QColor
    """Number literals."""
    literal: QColor
    """true, false, null."""
    punctuation: QColor
    """Braces, brackets, colons, commas."""
    keyword: QColor
    """GraphQL keywords: query, subscription, mutation, fragment, on..."""
    variable: QColor
    """GraphQL variables: `$since`."""
    type_name: QColor
    """GraphQL type names (`timestamptz!`) and directives (`@include`)."""
    comment: QColor
    """GraphQL comments (`# ...`)."""
    muted: QColor
    """Secondary text: unchanged columns, notes, truncation marks."""
    changed: QColor
    """Background of a changed row (the Changes tab)."""
    error: QColor
    """Failed outcomes (HTTP 5xx, no response)."""
    warning: QColor
    """Retried or client-error outcomes."""
    success: QColor
    """Delivered outcomes."""


def _scheme(**colours: str) -> SyntaxColours:
    return SyntaxColours(**{name: QColor(value) for name, value in colours.items()})


LIGHT = _scheme(
    key="#0b4f9c",
    string="#a31515",
    number="#09805a",
    literal="#0000d0",
    punctuation="#5a5a5a",
    keyword="#9a00c0",
    variable="#b35900",
    type_name="#16707f",
    comment="#5f7f3f",
    muted="#808080",
    changed="#fff1bf",
    error="#c62828",
    warning="#a86400",
    success="#2e7d32",
)
"""Colours with enough contrast on a white or light-grey base."""

DARK = _scheme(
    key="#9cdcfe",
    string="#ce9178",
    number="#b5cea8",
    literal="#569cd6",
    punctuation="#b0b0b0",
    keyword="#c586c0",
    variable="#ffb86c",
    type_name="#4ec9b0",
    comment="#7fa867",
    muted="#8c8c8c",
    changed="#4d4213",
    error="#ff6b6b",
    warning="#ffb74d",
    success="#81c784",
)
"""Colours with enough contrast on a near-black base."""


def is_dark(palette: QPalette) -> bool:
    """Whether a palette is a dark one: its base (the background of text and item views) is darker than mid-grey."""
    return palette.color(QPalette.ColorRole.Base).lightness() < 128


def syntax_colours(palette: QPalette) -> SyntaxColours:
    """The scheme that reads on this palette."""
    return DARK if is_dark(palette) else LIGHT


def _format(colour: QColor, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(colour)
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    if italic:
        fmt.setFontItalic(True)
    return fmt


class _PaletteHighlighter(QSyntaxHighlighter):
    """A highlighter whose formats come from a palette; `set_palette` switches scheme and re-highlights."""

    def __init__(self, document: QTextDocument, palette: QPalette | None = None) -> None:
        super().__init__(document)
        self.colours = syntax_colours(palette if palette is not None else QPalette())
        self._build_formats()

    def set_palette(self, palette: QPalette) -> None:
        colours = syntax_colours(palette)
        if colours is not self.colours:
            self.colours = colours
            self._build_formats()
            self.rehighlight()

    def _build_formats(self) -> None:
        raise NotImplementedError


_JSON_TOKEN = re.compile(
    r"""
      (?P<string>"(?:[^"\\]|\\.)*"?)          # a string (unterminated at the end of a cut line still counts)
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<literal>\b(?:true|false|null)\b)
    | (?P<punctuation>[{}\[\]:,])
    """,
    re.VERBOSE,
)
_KEY_FOLLOWS = re.compile(r"\s*:")


class JsonHighlighter(_PaletteHighlighter):
    """Colours JSON text: keys, strings, numbers, true/false/null, punctuation. Line by line (pretty-printed JSON keeps
    each string on one line), so it needs no state between blocks."""

    def _build_formats(self) -> None:
        c = self.colours
        self.formats = {
            "key": _format(c.key),
            "string": _format(c.string),
            "number": _format(c.number),
            "literal": _format(c.literal, bold=True),
            "punctuation": _format(c.punctuation),
        }

    def highlightBlock(self, text: str) -> None:
        text = text[:HIGHLIGHT_LIMIT]
        for match in _JSON_TOKEN.finditer(text):
            kind = match.lastgroup or "punctuation"
            if kind == "string" and _KEY_FOLLOWS.match(text, match.end()):
                kind = "key"
            self.setFormat(match.start(), match.end() - match.start(), self.formats[kind])


OPERATION_KEYWORDS = frozenset({"query", "subscription", "mutation", "fragment"})
"""Keywords that start a definition; coloured only outside selection sets, where a field may have the same name."""

_GRAPHQL_TOKEN = re.compile(
    r"""
      (?P<comment>\#.*)
    | (?P<block_string>\"\"\")
    | (?P<string>"(?:[^"\\]|\\.)*"?)
    | (?P<variable>\$[_A-Za-z][_0-9A-Za-z]*)
    | (?P<directive>@[_A-Za-z][_0-9A-Za-z]*)
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
    | (?P<spread>\.\.\.)
    | (?P<punctuation>[{}()\[\]:!=|&,])
    """,
    re.VERBOSE,
)
_IN_BLOCK_STRING = 1
"""Bit 0 of a block state: the line ends inside a `\"\"\"` block string; the other bits hold the `{` depth."""


class GraphQLHighlighter(_PaletteHighlighter):
    """Colours GraphQL documents: keywords (query, subscription, mutation, fragment, on), operation, field and type
    names, variables (`$x`), directives, strings (`\"\"\"` block strings across lines too), numbers, true/false/null,
    comments and punctuation. The `{` depth is carried from line to line, so that a field named `query` inside a
    selection set is a field, and a colon in the variable definitions introduces a type."""

    def _build_formats(self) -> None:
        c = self.colours
        self.formats = {
            "keyword": _format(c.keyword, bold=True),
            "name": _format(c.key),
            "operation_name": _format(c.key, bold=True),
            "type_name": _format(c.type_name),
            "directive": _format(c.type_name, italic=True),
            "variable": _format(c.variable),
            "string": _format(c.string),
            "number": _format(c.number),
            "literal": _format(c.literal, bold=True),
            "comment": _format(c.comment, italic=True),
            "punctuation": _format(c.punctuation),
        }

    def highlightBlock(self, text: str) -> None:
        text = text[:HIGHLIGHT_LIMIT]
        state = max(self.previousBlockState(), 0)
        depth, in_block_string = state >> 1, bool(state & _IN_BLOCK_STRING)
        position = 0
        if in_block_string:
            close = text.find('"""')
            if close < 0:
                self.setFormat(0, len(text), self.formats["string"])
                self.setCurrentBlockState(state)
                return
            self.setFormat(0, close + 3, self.formats["string"])
            position = close + 3
        expect = ""  # what the previous tokens make the next name: "operation_name", "type_name", "on" or ""
        while position < len(text):
            match = _GRAPHQL_TOKEN.search(text, position)
            if match is None:
                break
            kind = match.lastgroup or "punctuation"
            begin, end, word = match.start(), match.end(), match.group()
            if kind == "block_string":
                close = text.find('"""', end)
                if close < 0:
                    self.setFormat(begin, len(text) - begin, self.formats["string"])
                    self.setCurrentBlockState(depth << 1 | _IN_BLOCK_STRING)
                    return
                end, kind = close + 3, "string"
            next_expect = ""
            if kind == "name":
                if word in ("true", "false", "null"):
                    kind = "literal"
                elif depth == 0 and word in OPERATION_KEYWORDS:
                    kind, next_expect = "keyword", "operation_name"
                elif word == "on" and expect in ("on", "spread"):
                    kind, next_expect = "keyword", "type_name"
                elif expect == "type_name":
                    kind = "type_name"
                elif expect == "operation_name":
                    kind = "operation_name"
                    next_expect = "on"  # `fragment Name on Type`
            elif kind == "spread":
                kind, next_expect = "punctuation", "spread"
            elif kind == "punctuation":
                if word == "{":
                    depth += 1
                elif word == "}":
                    depth = max(depth - 1, 0)
                elif depth == 0 and ((word == ":" and expect == "variable") or (word == "[" and expect == "type_name")):
                    next_expect = "type_name"  # `($since: timestamptz!, $ids: [uuid!])`
            elif kind == "variable":
                next_expect = "variable"
            self.setFormat(begin, end - begin, self.formats[kind])
            if kind != "comment":
                expect = next_expect
            position = end
        self.setCurrentBlockState(depth << 1)
