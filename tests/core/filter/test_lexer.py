"""The display filter's lexer: string escapes, numbers and units, and the errors of text that makes no tokens."""

from __future__ import annotations

import pytest

from inspector.core.filter import Comparison, FilterError, check, find_error, parse
from inspector.core.filter.check import Compare
from inspector.core.filter.lexer import Lexer


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        (r'"a\"b"', 'a"b'),
        (r"'it\'s'", "it's"),
        (r'"tab\there"', "tab\there"),
        (r'"\x41\u00e9\U0001F355"', "Aé🍕"),
        (r'"\ud83c\udf55"', "🍕"),
        (r'"back\\slash"', "back\\slash"),
        (r'"^\d+ \."', r"^\d+ \."),  # unknown escapes stay, so regexes read naturally
        (r'r"\d\"q"', r"\d\"q"),
        ("'single \"double\" inside'", 'single "double" inside'),
        ('"line\nbreak"', "line\nbreak"),
    ],
)
def test_string_escapes(literal: str, value: str) -> None:
    test = parse(f"trigger == {literal}")
    assert isinstance(test, Comparison) and test.value.value == value
    checked = check(test).tree
    assert isinstance(checked, Compare) and checked.value == value


def test_numbers_keep_their_unit() -> None:
    tokens = Lexer("latency > 1.5s and tries < -2 or id == 2024-03-01T12:00").tokens()
    assert [(t.kind, t.value, t.unit) for t in tokens if t.kind == "number"] == [
        ("number", 1.5, "s"),
        ("number", -2, None),
    ]
    assert [t.text for t in tokens if t.kind == "word"][-1] == "2024-03-01T12:00"


def test_tolerant_lexing_skips_what_makes_no_token() -> None:
    assert [t.text for t in Lexer("tries = 1 and").tokens(tolerant=True)] == ["tries", "1", "and", ""]
    with pytest.raises(FilterError, match="unterminated"):
        Lexer('trigger == "abc').tokens(tolerant=True)


# --- errors a user can act on, with the span to underline -----------------------------------------------------------

ERRORS = [
    ('trigger == "abc', 'unterminated string — add the closing "', '"abc'),
    ("trigger == 'abc\\'", "unterminated string", "'abc\\'"),
    ("tries => 1", "unknown operator '=>' — did you mean '>='?", "=>"),
    ("tries = 1", "unknown operator '=' — did you mean '=='?", "="),
    ("tries === 1", "unknown operator '===' — did you mean '=='?", "==="),
    ("tries <> 1", "unknown operator '<>' — did you mean '!='?", "<>"),
    ("trigger =~ 'x'", "did you mean 'matches'?", "=~"),
    ("delivered & error", "did you mean '&&'?", "&"),
    ("delivered | error", "did you mean '||'?", "|"),
    ("trigger == “x”", "use straight quotes", "“"),
    ("trigger == x\x07", "unexpected control character U+0007", "\x07"),
    ("триггер == 1", "unexpected character 'т'", "т"),
    ("data.new.café == 1", "unexpected character 'é'", "é"),
    ('trigger == "\\ud800"', "\\ud800 is not a character", "\\ud800"),
    ('trigger == "\\u12"', "\\u needs 4 hex digits", '\\u12"'),
    ('trigger == "a\ud800"', "invalid character U+D800 in string", "\ud800"),
    ("tries > 99999999999999999999", "number 99999999999999999999 is too large", "99999999999999999999"),
    ("tries > 1e999", "number 1e999 is too large", "1e999"),
]


@pytest.mark.parametrize(("text", "message", "underlined"), ERRORS, ids=[t for t, _, _ in ERRORS])
def test_errors_say_what_to_do_and_where(text: str, message: str, underlined: str) -> None:
    with pytest.raises(FilterError) as caught:
        Lexer(text).tokens()
    error = caught.value
    assert message in error.message, error.message
    assert text[error.start : error.end] == underlined, (error.start, error.end)
    assert str(error) == error.message
    assert find_error(text) is not None and find_error(text).start == error.start  # type: ignore[union-attr]
