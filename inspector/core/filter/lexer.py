r"""The display filter's lexer: filter text to tokens (strings decoded, numbers read with their unit).

Owns the token rules of the language (see `inspector.core.filter.parser` for the grammar): quoted strings with their
escapes (`\\ \" \' \n \t \r \0 \xHH \uHHHH \UHHHHHHHH`; any other backslash is kept, so `"^\d+"` is the regex
`^\d+`; raw strings `r"..."` keep every backslash), numbers with an optional unit (`ms s m h d w`), barewords, and
the operators, with a "did you mean" for the ones people type from other languages (`===`, `=~`, `<>`). Used by
the parser and by completion (tolerantly, for text still being typed).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from inspector.core.filter.errors import FilterError, show

__all__ = ["COMPARISONS", "KEYWORDS", "WORD_OPS", "Lexer", "Token", "TokenKind"]

KEYWORDS = frozenset({"and", "or", "not", "in", "contains", "matches", "true", "false", "null"})
WORD_OPS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
"""Comparisons spelt as words, and the operator each one is."""
COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})

TokenKind = Literal["string", "number", "word", "punct", "eof"]


@dataclass(frozen=True)
class Token:
    """One token of filter text, with its character span."""

    kind: TokenKind
    text: str
    """As written (for punctuation: the operator)."""
    start: int
    end: int
    value: Any = None
    """Strings: the decoded text; numbers: int or float."""
    unit: str | None = None
    verbatim: bool = False
    """Strings: the decoded text is exactly what is between the quotes (so regex error offsets map back)."""

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words

    def is_punct(self, *ops: str) -> bool:
        return self.kind == "punct" and self.text in ops

    def describe(self) -> str:
        return "the end of the filter" if self.kind == "eof" else f"'{show(self.text)}'"


_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-\[\]]*")
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(ms|s|m|h|d|w)?")
_RUN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:+-")
_PUNCT = ("==", "!=", "<=", ">=", "&&", "||", "..", "<", ">", "!", "(", ")", "{", "}", ",", "~")
_BAD_OPS = {
    "===": "==",
    "!==": "!=",
    "=>": ">=",
    "=<": "<=",
    "<>": "!=",
    "=~": "matches",
    "!~": "not matches",
    "=": "==",
    "&": "&&",
    "|": "||",
}
_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_SMART_QUOTES = frozenset("\u201c\u201d\u201e\u201f\u2018\u2019\u201a\u201b\u00ab\u00bb")  # typographic quotes
_MAX_INT = 2**63 - 1


class Lexer:
    """Filter text to tokens; errors (unterminated strings, unknown characters and operators) carry their span."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)

    def tokens(self, tolerant: bool = False) -> list[Token]:
        """All tokens, ending with `eof`. Tolerant (for completion): skip characters that make no token, but still
        raise for an unterminated string."""
        out: list[Token] = []
        i = 0
        while True:
            while i < self.n and self.text[i].isspace():
                i += 1
            if i >= self.n:
                out.append(Token("eof", "", self.n, self.n))
                return out
            try:
                token = self._token(i)
            except FilterError as exc:
                if not tolerant or exc.message.startswith("unterminated"):
                    raise
                i += 1
                continue
            out.append(token)
            i = token.end

    def _token(self, i: int) -> Token:
        text, c = self.text, self.text[i]
        nxt = text[i + 1] if i + 1 < self.n else ""
        if c in "\"'":
            return self._string(i, raw=False)
        if c in "rR" and nxt in ("'", '"'):
            return self._string(i + 1, raw=True, start=i)
        if c.isascii() and (c.isalpha() or c == "_"):
            m = _WORD_RE.match(text, i)
            assert m is not None
            return Token("word", m.group(), i, m.end())
        if (c.isascii() and c.isdigit()) or (c == "-" and nxt.isascii() and nxt.isdigit()):
            return self._number(i)
        if text.startswith(("===", "!==", "<>", "!~"), i):
            bad = text[i : i + (3 if text[i + 1] == "=" else 2)]
            raise FilterError(f"unknown operator '{bad}' — did you mean '{_BAD_OPS[bad]}'?", i, i + len(bad))
        for op in _PUNCT:
            if text.startswith(op, i):
                return Token("punct", op, i, i + len(op))
        for bad, good in _BAD_OPS.items():
            if text.startswith(bad, i):
                raise FilterError(f"unknown operator '{bad}' — did you mean '{good}'?", i, i + len(bad))
        if c in _SMART_QUOTES:
            raise FilterError(f"use straight quotes (\" or ') instead of {c}", i, i + 1)
        if unicodedata.category(c)[0] == "C":
            raise FilterError(f"unexpected control character U+{ord(c):04X}", i, i + 1)
        raise FilterError(f"unexpected character '{c}'", i, i + 1)

    def _number(self, i: int) -> Token:
        m = _NUMBER_RE.match(self.text, i)
        assert m is not None
        end = m.end()
        if end < self.n and self.text[end] in _RUN_CHARS and not self.text.startswith("..", end):
            # Not a number after all: an unquoted value such as 2024-03-01T12:00 or an id like 6f1c2d3e-...
            while end < self.n and self.text[end] in _RUN_CHARS:
                end += 1
            return Token("word", self.text[i:end], i, end)
        raw = m.group()
        unit = m.group(1)
        digits = raw[: len(raw) - len(unit)] if unit else raw
        value: int | float
        if re.fullmatch(r"-?\d+", digits):
            value = int(digits)
            if abs(value) > _MAX_INT:
                raise FilterError(f"number {show(digits)} is too large", i, end)
        else:
            value = float(digits)
            if not math.isfinite(value):
                raise FilterError(f"number {show(digits)} is too large", i, end)
        return Token("number", raw, i, end, value=value, unit=unit)

    def _string(self, q: int, raw: bool, start: int | None = None) -> Token:
        text, quote = self.text, self.text[q]
        start = q if start is None else start
        parts: list[str] = []
        verbatim = True
        j = q + 1
        while True:
            if j >= self.n:
                raise FilterError(f"unterminated string — add the closing {quote}", start, self.n)
            c = text[j]
            if c == quote:
                return Token("string", text[start : j + 1], start, j + 1, value="".join(parts), verbatim=verbatim)
            if unicodedata.category(c) == "Cs":
                raise FilterError(f"invalid character U+{ord(c):04X} in string", j, j + 1)
            if c != "\\":
                parts.append(c)
                j += 1
                continue
            if j + 1 >= self.n:
                raise FilterError(f"unterminated string — add the closing {quote}", start, self.n)
            e = text[j + 1]
            if raw:  # r"...": the backslash stays, and protects the next character (even a quote)
                parts.append(c + e)
                j += 2
                continue
            if e in _SIMPLE_ESCAPES:
                parts.append(_SIMPLE_ESCAPES[e])
                verbatim = False
                j += 2
            elif e in "xuU":
                char, j = self._code_point(j)
                parts.append(char)
                verbatim = False
            else:  # unknown escapes stay as written: "^\d+" is the regex ^\d+
                parts.append(c + e)
                j += 2

    def _code_point(self, j: int) -> tuple[str, int]:
        """`\\xHH`, `\\uHHHH` (a surrogate pair of two is combined) or `\\UHHHHHHHH` at j; the character and the
        offset after it."""
        letter = self.text[j + 1]
        width = {"x": 2, "u": 4, "U": 8}[letter]
        digits = self.text[j + 2 : j + 2 + width]
        end = j + 2 + width
        if len(digits) != width or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
            raise FilterError(f"\\{letter} needs {width} hex digits", j, min(end, self.n))
        code = int(digits, 16)
        if 0xD800 <= code <= 0xDBFF and letter == "u" and self.text[end : end + 2] == "\\u":
            low_digits = self.text[end + 2 : end + 6]
            if len(low_digits) == 4 and all(ch in "0123456789abcdefABCDEF" for ch in low_digits):
                low = int(low_digits, 16)
                if 0xDC00 <= low <= 0xDFFF:
                    return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), end + 6
        if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            raise FilterError(f"\\{letter}{digits} is not a character", j, end)
        return chr(code), end
