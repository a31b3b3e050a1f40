r"""The display filter's parser: filter text to a syntax tree, with errors a user can act on.

Grammar (keywords are case-insensitive; `&&`, `||`, `!` are the same as `and`, `or`, `not`)::

    filter  := [or] EOF                                  empty: every event
    or      := and {("or" | "||") and}
    and     := unary {("and" | "&&") unary}
    unary   := {"not" | "!"} ("(" or ")" | primary)     precedence: not > and > or
    primary := STRING                                    free text: search the event payload
             | field                                     boolean field: true; any other: present (not null)
             | field cmp value                           cmp: == != < <= > >= (or eq ne lt le gt ge)
             | field ["not"] ("contains" | "matches" | "~") value
             | field ["not"] "in" "{" item {[","] item} "}"
    item    := value [".." value]                        a range: http_status in {200..299 404}
    value   := STRING | NUMBER | "true" | "false" | "null" | BAREWORD

The right side of a comparison is always a value, never another field. Fields are `inspector.core.filter.fields`'
(`data.new.<path>` with `[n]` array indexes, `session.<var>` where `session.user-id` is `x-hasura-user-id`); an
unquoted unknown word is an error with a "did you mean", never a silent search.

Why a hand-written recursive-descent parser: the grammar has a dozen rules, and a parser generator (or a parsing
library) would add a dependency for a 300-line job while making the thing the filter bar needs most, a precise span
and a message a user can act on ("expected a value after '=='", "did you mean 'trigger'?"), harder to get; here each
rule knows what it expected and where. Limits (`MAX_LENGTH`, `MAX_DEPTH`, `MAX_SET`) keep hostile or machine-made
text cheap. Used by `check` (and so by everything that filters) and by completion (`resolve_field`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import replace

from inspector.core.filter.errors import FilterError, did_you_mean, show
from inspector.core.filter.fields import FIELD_KINDS, JSON_ROOTS, SIMPLE_FIELDS
from inspector.core.filter.lexer import COMPARISONS, KEYWORDS, WORD_OPS, Lexer, Token
from inspector.core.filter.syntax import (
    All,
    And,
    Comparison,
    Expr,
    FieldRef,
    In,
    Not,
    Or,
    Present,
    Range,
    Text,
    Value,
)

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "MAX_SET", "parse", "resolve_field"]

MAX_LENGTH = 65536
"""Longest filter text accepted (characters)."""
MAX_DEPTH = 200
"""Deepest nesting of parentheses and `not`s accepted."""
MAX_SET = 1000
"""Most values in one `in {...}` set."""

_PATH_SEGMENT = re.compile(r"([A-Za-z0-9_]+)((?:\[\d{1,9}\])*)")
_SESSION_VAR = re.compile(r"[A-Za-z0-9_\-]+")


def resolve_field(token: Token) -> FieldRef:
    """The field a word names, or a FilterError that says what was wrong with it."""
    name, start, end = token.text, token.start, token.end
    if name in FIELD_KINDS and name not in JSON_ROOTS:
        return FieldRef(name, (), name, start, end)
    for root in ("data.new", "data.old"):
        if name == root:
            return FieldRef(root, (), name, start, end)
        if name.startswith(root + "."):
            return FieldRef(root, _json_path(name, len(root) + 1, start), name, start, end)
    if name == "session":
        return FieldRef("session", (), name, start, end)
    if name.startswith("session."):
        var = name[len("session.") :]
        if not var:
            raise FilterError("expected a variable after 'session.' (session.user-id, session.role)", start, end)
        if not _SESSION_VAR.fullmatch(var):
            raise FilterError(
                f"'{show(var)}' is not a session variable name (letters, digits, - and _)", start + 8, end
            )
        key = var.lower()
        if not key.startswith("x-hasura-"):
            key = "x-hasura-" + key
        return FieldRef("session", (key,), name, start, end)
    head, _, rest = name.partition(".")
    if head == "data" and rest:
        second, _, tail = rest.partition(".")
        close = difflib.get_close_matches(second, ["new", "old"], n=1, cutoff=0.3)
        guess = f"data.{close[0]}" + (f".{tail}" if tail else "") if close else f"data.new.{rest}"
        raise FilterError(f"unknown field '{show(name)}' — did you mean '{guess}'?", start, end)
    if head == "invocation" and rest:
        raise FilterError(
            f"unknown field '{show(name)}'{did_you_mean(name, ['invocation.http_status', 'invocation.response'])}"
            " (invocation fields: invocation.http_status, invocation.response)",
            start,
            end,
        )
    candidates = [*SIMPLE_FIELDS, "data.new", "data.old", "session"]
    hint = did_you_mean(name, candidates)
    if not hint and re.fullmatch(r"[A-Za-z0-9_]+", name):
        hint = f'; a column of the row is data.new.{name}; to search for text, quote it: "{name}"'
    elif not hint:
        hint = f" (fields: {', '.join(SIMPLE_FIELDS)}, data.new.<path>, data.old.<path>, session.<var>)"
    raise FilterError(f"unknown field '{show(name)}'{hint}", start, end)


def _json_path(name: str, offset: int, start: int) -> tuple[str | int, ...]:
    rest = name[offset:]
    if not rest:
        raise FilterError(f"expected a column name after '{name}'", start, start + len(name))
    out: list[str | int] = []
    pos = offset
    for segment in rest.split("."):
        m = _PATH_SEGMENT.fullmatch(segment)
        if m is None:
            what = "an empty column name" if not segment else f"'{show(segment)}' is not a column name"
            raise FilterError(
                f"{what}: paths are letters, digits and _, with [n] for array items (data.new.items[0])",
                start + pos,
                start + pos + max(len(segment), 1),
            )
        out.append(m.group(1))
        out.extend(int(index) for index in re.findall(r"\[(\d+)\]", m.group(2)))
        pos += len(segment) + 1
    return tuple(out)


class _Parser:
    """One parse: the tokens, the position in them, and how deep in parentheses and `not`s it is."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = Lexer(text).tokens()
        self.i = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "eof":
            self.i += 1
        return token

    def previous(self) -> Token | None:
        return self.tokens[self.i - 1] if self.i > 0 else None

    def parse(self) -> Expr:
        if self.peek().kind == "eof":
            return All(0, len(self.text))
        expr = self.parse_or()
        token = self.peek()
        if token.kind != "eof":
            if token.is_punct(")"):
                raise FilterError("unbalanced ')' — there is no '(' for it to close", token.start, token.end)
            raise self.expected_connective(token)
        return expr

    def expected_connective(self, token: Token) -> FilterError:
        if token.kind == "word":
            hint = did_you_mean(token.text, ["and", "or", "not", "contains", "matches", "in"])
            if hint:
                return FilterError(f"unknown operator '{show(token.text)}'{hint}", token.start, token.end)
        closing = " or ')'" if self.depth else ""
        return FilterError(
            f"expected 'and', 'or'{closing} or the end of the filter, found {token.describe()}", token.start, token.end
        )

    def parse_or(self) -> Expr:
        """`or` of `and`s of operands, in one function so that each level of parentheses costs two Python frames
        (this one and `parse_operand`, which parses parentheses), not four: `MAX_DEPTH` levels stay far from the
        recursion limit."""
        alternatives: list[Expr] = []
        while True:
            factors = [self.parse_operand()]
            while self.peek().is_word("and") or self.peek().is_punct("&&"):
                self.advance()
                factors.append(self.parse_operand())
            alternatives.append(
                factors[0] if len(factors) == 1 else And(tuple(factors), factors[0].start, factors[-1].end)
            )
            if not (self.peek().is_word("or") or self.peek().is_punct("||")):
                break
            self.advance()
        if len(alternatives) == 1:
            return alternatives[0]
        return Or(tuple(alternatives), alternatives[0].start, alternatives[-1].end)

    def enter(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(
                f"nested too deeply (more than {MAX_DEPTH} levels of '(' and 'not')", token.start, token.end
            )

    def parse_operand(self) -> Expr:
        """`{not} ("(" or ")" | primary)`."""
        nots: list[Token] = []
        while self.peek().is_word("not") or self.peek().is_punct("!"):
            nots.append(self.advance())
            self.enter(nots[-1])
        if self.peek().is_punct("("):
            opening = self.advance()
            self.enter(opening)
            if self.peek().is_punct(")"):
                raise FilterError("empty parentheses: put a test inside", opening.start, self.peek().end)
            expr = self.parse_or()
            closing = self.peek()
            if closing.kind == "eof":
                raise FilterError("unclosed '(' — add ')'", opening.start, opening.end)
            if not closing.is_punct(")"):
                raise self.expected_connective(closing)
            self.advance()
            self.depth -= 1
            expr = replace(expr, start=opening.start, end=closing.end)  # the span includes the parentheses
        else:
            expr = self.parse_primary()
        for token in reversed(nots):
            expr = Not(expr, token.start, expr.end)
        self.depth -= len(nots)
        return expr

    def missing(self, what: str) -> FilterError:
        """Nothing (or the wrong thing) where `what` was expected: point at the token that should have been followed
        by it when the text just ends, else at the token found."""
        token, before = self.peek(), self.previous()
        after = f" after '{show(before.text)}'" if before is not None else ""
        if token.kind == "eof":
            if before is not None:
                return FilterError(f"expected {what}{after}", before.start, before.end)
            return FilterError(f"expected {what}", token.start, token.end)
        return FilterError(f"expected {what}{after}, found {token.describe()}", token.start, token.end)

    def parse_primary(self) -> Expr:
        """A test or free text (never recursive: parentheses are `parse_operand`'s)."""
        token = self.peek()
        if token.kind == "string":
            self.advance()
            follower = self.peek()
            if (follower.kind == "punct" and follower.text in COMPARISONS | {"~"}) or follower.is_word(
                "contains", "matches", "in"
            ):
                raise FilterError(
                    f"a test starts with the field: trigger {follower.text} {token.text}, not {token.text} "
                    f"{follower.text} trigger",
                    token.start,
                    follower.end,
                )
            return Text(_value(token), token.start, token.end)
        if token.kind == "word":
            lower = token.text.lower()
            if lower in KEYWORDS:
                if lower in ("true", "false", "null"):
                    raise FilterError(
                        f"expected a field, found '{token.text}' (a test looks like tries > 1)", token.start, token.end
                    )
                if self.previous() is None:
                    raise FilterError(f"expected a test before '{token.text}'", token.start, token.end)
                raise self.missing("a test")
            field_ref = resolve_field(token)
            self.advance()
            return self.parse_test(field_ref)
        if token.is_punct(")") and self.depth == 0 and self.previous() is None:
            raise FilterError("unbalanced ')' — there is no '(' for it to close", token.start, token.end)
        if token.kind == "number":
            raise FilterError(
                f"expected a field, found the number {show(token.text)} (a test looks like tries > 1)",
                token.start,
                token.end,
            )
        raise self.missing("a test")

    def parse_test(self, field_ref: FieldRef) -> Expr:
        token = self.peek()
        if (token.kind == "punct" and token.text in COMPARISONS) or (
            token.kind == "word" and token.text.lower() in WORD_OPS
        ):
            self.advance()
            op = token.text if token.kind == "punct" else WORD_OPS[token.text.lower()]
            value = self.parse_value()
            return Comparison(field_ref, op, value, field_ref.start, value.end, token.start, token.end)
        negated = None
        if token.is_word("not") and (self.peek(1).is_word("contains", "matches", "in") or self.peek(1).is_punct("~")):
            negated = self.advance()
            token = self.peek()
        if token.is_word("contains", "matches") or token.is_punct("~"):
            self.advance()
            op = "matches" if token.text == "~" else token.text.lower()
            value = self.parse_value()
            test: Expr = Comparison(field_ref, op, value, field_ref.start, value.end, token.start, token.end)
        elif token.is_word("in"):
            self.advance()
            test = self.parse_set(field_ref)
        else:
            if token.kind in ("string", "number"):
                raise FilterError(
                    f"expected an operator (==, !=, <, >, contains, matches, in) between '{field_ref.text}' and "
                    f"{token.describe()}",
                    token.start,
                    token.end,
                )
            if token.kind == "word" and token.text.lower() not in KEYWORDS:
                hint = did_you_mean(token.text, ["contains", "matches", "in", "and", "or", *WORD_OPS])
                if hint:
                    raise FilterError(f"unknown operator '{show(token.text)}'{hint}", token.start, token.end)
            return Present(field_ref, field_ref.start, field_ref.end)
        if negated is not None:
            return Not(test, field_ref.start, test.end)
        return test

    def parse_value(self) -> Value:
        token = self.peek()
        if token.kind in ("string", "number") or (
            token.kind == "word" and token.text.lower() not in KEYWORDS - {"true", "false", "null"}
        ):
            self.advance()
            return _value(token)
        raise self.missing("a value")

    def parse_set(self, field_ref: FieldRef) -> In:
        opening = self.peek()
        if not opening.is_punct("{"):
            raise self.missing("a set such as {a b c}")
        self.advance()
        items: list[Value | Range] = []
        while True:
            token = self.peek()
            if token.is_punct("}"):
                if not items:
                    raise FilterError("empty set: put at least one value between { and }", opening.start, token.end)
                self.advance()
                return In(field_ref, tuple(items), field_ref.start, token.end)
            if token.kind == "eof":
                raise FilterError("unclosed '{' — add '}'", opening.start, opening.end)
            if token.is_punct(","):
                previous = self.previous()
                if not items or (previous is not None and previous.is_punct(",")):
                    raise FilterError("expected a value before ','", token.start, token.end)
                self.advance()
                continue
            low = self.parse_value()
            item: Value | Range = low
            if self.peek().is_punct(".."):
                self.advance()
                high = self.parse_value()
                item = Range(low, high, low.start, high.end)
            items.append(item)
            if len(items) > MAX_SET:
                raise FilterError(f"too many values in one set (at most {MAX_SET})", item.start, item.end)


def _value(token: Token) -> Value:
    if token.kind == "string":
        return Value("string", token.value, token.text, token.start, token.end, verbatim=token.verbatim)
    if token.kind == "number":
        return Value("number", token.value, token.text, token.start, token.end, unit=token.unit)
    lower = token.text.lower()
    if lower in ("true", "false"):
        return Value("bool", lower == "true", token.text, token.start, token.end)
    if lower == "null":
        return Value("null", None, token.text, token.start, token.end)
    return Value("word", token.text, token.text, token.start, token.end)


def parse(text: str) -> Expr:
    """The syntax tree of a filter; `All` for empty text. Raises `FilterError` with the span to underline."""
    if len(text) > MAX_LENGTH:
        raise FilterError(f"filter too long ({len(text)} characters; at most {MAX_LENGTH})", MAX_LENGTH, len(text))
    return _Parser(text).parse()
