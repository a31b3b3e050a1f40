"""The recorder's frame parser (`subscriptions._parse_frame`) against `json.loads`: same values, same failures."""

from __future__ import annotations

import json

import pytest

from inspector.backends.subscriptions import _parse_frame

FRAMES = [
    '{"type":"next","id":"1","payload":{"data":{"orders":[{"id":1,"x":1.5e3,"s":"\\u00e9"}]}}}',
    ' {"type":"ka"}',
    '{"type":"ka"}\n',
    "\t[1, 2]  ",
    '"text"',
    "3",
    "null",
    '{"n": NaN, "i": -Infinity}',
]
BAD = ["", " ", "{", '{"type":"next"} x', "{}{}", "nope", '{"a":1,}', "\ufeff{}", '{"a":"\x01"}']


@pytest.mark.parametrize("raw", FRAMES)
def test_parses_what_json_loads_parses(raw: str) -> None:
    expected = json.loads(raw)
    got = _parse_frame(raw)
    assert json.dumps(got) == json.dumps(expected)


@pytest.mark.parametrize("raw", BAD)
def test_refuses_what_json_loads_refuses(raw: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    with pytest.raises(json.JSONDecodeError):
        _parse_frame(raw)
