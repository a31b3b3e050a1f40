"""GraphQL operations as the capture sees them: what kind a subscription is, how to resume a stream, and what changed
between two live-query results.

Owns `analyse` (live query or Hasura streaming subscription, and the stream's cursor column, ordering and response
key), `resume_stream` (the same operation with its cursor moved past the last row received, so a reconnect neither
skips nor repeats rows) and `diff` (the change between successive results). Pure: graphql-core's parser only.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from graphql import (
    ArgumentNode,
    BooleanValueNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    GraphQLError,
    IntValueNode,
    NameNode,
    Node,
    NullValueNode,
    ObjectFieldNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    parse,
    print_ast,
)


class OperationError(ValueError):
    """The text is not a GraphQL operation the capture can run; the message says why."""


@dataclass(frozen=True)
class OperationInfo:
    """What the capture needs to know about one operation."""

    kind: Literal["live", "stream", "query", "mutation"]
    name: str | None
    response_key: str | None = None
    """For a stream: the alias (or field name) its rows arrive under."""
    cursor_column: str | None = None
    descending: bool = False
    initial_value: Any = None


def _value(node: ValueNode, variables: Mapping[str, Any]) -> Any:
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, FloatValueNode):
        return float(node.value)
    if isinstance(node, StringValueNode | EnumValueNode):
        return node.value
    if isinstance(node, BooleanValueNode):
        return node.value
    if isinstance(node, NullValueNode):
        return None
    if isinstance(node, ObjectValueNode):
        return {f.name.value: _value(f.value, variables) for f in node.fields}
    if hasattr(node, "values"):
        return [_value(v, variables) for v in node.values]
    return None


def _operation(query: str) -> OperationDefinitionNode:
    try:
        document = parse(query)
    except GraphQLError as exc:
        raise OperationError(f"not valid GraphQL: {exc.message}") from exc
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        raise OperationError("give exactly one operation per subscription")
    return operations[0]


def _stream_field(operation: OperationDefinitionNode) -> FieldNode | None:
    for selection in operation.selection_set.selections:
        if isinstance(selection, FieldNode) and selection.name.value.endswith("_stream"):
            return selection
    return None


def analyse(query: str, variables: Mapping[str, Any] | None = None) -> OperationInfo:
    """Classify an operation; for a Hasura stream (`<table>_stream(cursor: …)`) find its cursor."""
    variables = variables or {}
    operation = _operation(query)
    name = operation.name.value if operation.name else None
    if operation.operation == OperationType.QUERY:
        return OperationInfo("query", name)
    if operation.operation == OperationType.MUTATION:
        return OperationInfo("mutation", name)
    field = _stream_field(operation)
    if field is None:
        return OperationInfo("live", name)
    arguments = {a.name.value: _value(a.value, variables) for a in field.arguments or ()}
    cursor = arguments.get("cursor")
    if isinstance(cursor, list):
        cursor = cursor[0] if cursor else None
    if not isinstance(cursor, Mapping) or not isinstance(cursor.get("initial_value"), Mapping):
        raise OperationError(f"{field.name.value}: the cursor argument needs an initial_value")
    initial = cursor["initial_value"]
    if len(initial) != 1:
        raise OperationError(f"{field.name.value}: the cursor's initial_value must name exactly one column")
    ((column, value),) = initial.items()
    return OperationInfo(
        "stream",
        name,
        response_key=(field.alias or field.name).value,
        cursor_column=str(column),
        descending=str(cursor.get("ordering", "ASC")).upper() == "DESC",
        initial_value=value,
    )


def _literal(value: Any) -> ValueNode:
    if value is None:
        return NullValueNode()
    if isinstance(value, bool):
        return BooleanValueNode(value=value)
    if isinstance(value, int):
        return IntValueNode(value=str(value))
    if isinstance(value, float):
        return FloatValueNode(value=repr(value))
    return StringValueNode(value=str(value))


def _with(node: Node, **changes: Any) -> Any:
    """A copy of an AST node with some fields changed (graphql-core 3.3 nodes are frozen)."""
    if dataclasses.is_dataclass(node):
        return dataclasses.replace(node, **changes)
    clone = copy.copy(node)
    for key, value in changes.items():
        setattr(clone, key, value)
    return clone


def _rewrite_stream(query: str, variables: Mapping[str, Any] | None, last_value: Any, move_cursor: bool) -> str:
    info = analyse(query, variables)
    if info.kind != "stream" or info.cursor_column is None:
        raise OperationError("only a streaming subscription can be resumed")
    operation = _operation(query)
    field = _stream_field(operation)
    assert field is not None
    changes: dict[str, Any] = {}
    if move_cursor:
        cursor = ObjectValueNode(
            fields=(
                ObjectFieldNode(
                    name=NameNode(value="initial_value"),
                    value=ObjectValueNode(
                        fields=(ObjectFieldNode(name=NameNode(value=info.cursor_column), value=_literal(last_value)),)
                    ),
                ),
                ObjectFieldNode(
                    name=NameNode(value="ordering"), value=EnumValueNode(value="DESC" if info.descending else "ASC")
                ),
            )
        )
        arguments = tuple(a for a in field.arguments or () if a.name.value != "cursor")
        changes["arguments"] = (*arguments, ArgumentNode(name=NameNode(value="cursor"), value=cursor))
    selections = tuple(field.selection_set.selections) if field.selection_set else ()
    if not any(isinstance(s, FieldNode) and s.name.value == info.cursor_column and s.alias is None for s in selections):
        column = FieldNode(name=NameNode(value=info.cursor_column), arguments=(), directives=())
        changes["selection_set"] = SelectionSetNode(selections=(*selections, column))
    if not changes:
        return query
    new_field = _with(field, **changes)
    top = tuple(new_field if s is field else s for s in operation.selection_set.selections)
    new_operation = _with(operation, selection_set=_with(operation.selection_set, selections=top))
    return print_ast(new_operation)


def resume_stream(query: str, variables: Mapping[str, Any] | None, last_value: Any) -> str:
    """The stream operation with its cursor set to start after `last_value` (Hasura's cursor is exclusive), and the
    cursor column added to the selection when it was missing (it is needed to know where the stream got to)."""
    return _rewrite_stream(query, variables, last_value, move_cursor=True)


def with_cursor_column(query: str, variables: Mapping[str, Any] | None = None) -> str:
    """A stream operation with its cursor column in the selection (unchanged if it is there or not a stream)."""
    if analyse(query, variables).kind != "stream":
        return query
    return _rewrite_stream(query, variables, None, move_cursor=False)


def diff(old: Any, new: Any, path: str = "$") -> list[dict[str, Any]]:
    """The changes from `old` to `new` as `{"path", "old", "new"}` entries (`old` absent: added; `new` absent:
    removed). Lists of objects that share an `id`-like key are matched by that key, others by position."""
    if old == new:
        return []
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        changes: list[dict[str, Any]] = []
        for key in old.keys() | new.keys():
            if key not in new:
                changes.append({"path": f"{path}.{key}", "old": old[key]})
            elif key not in old:
                changes.append({"path": f"{path}.{key}", "new": new[key]})
            else:
                changes.extend(diff(old[key], new[key], f"{path}.{key}"))
        return sorted(changes, key=lambda c: str(c["path"]))
    if isinstance(old, list) and isinstance(new, list):
        key = _list_key(old, new)
        if key is not None:
            before = {str(item[key]): item for item in old}
            after = {str(item[key]): item for item in new}
            changes = []
            for k in [*before, *(k for k in after if k not in before)]:
                item_path = f"{path}[{key}={k}]"
                if k not in after:
                    changes.append({"path": item_path, "old": before[k]})
                elif k not in before:
                    changes.append({"path": item_path, "new": after[k]})
                else:
                    changes.extend(diff(before[k], after[k], item_path))
            return changes
        changes = []
        for i in range(max(len(old), len(new))):
            if i >= len(new):
                changes.append({"path": f"{path}[{i}]", "old": old[i]})
            elif i >= len(old):
                changes.append({"path": f"{path}[{i}]", "new": new[i]})
            else:
                changes.extend(diff(old[i], new[i], f"{path}[{i}]"))
        return changes
    return [{"path": path, "old": old, "new": new}]


def _list_key(*lists: list[Any]) -> str | None:
    items = [item for items in lists for item in items]
    if not items or not all(isinstance(item, Mapping) for item in items):
        return None
    for candidate in ("id", *sorted(k for k in items[0] if k.endswith("_id"))):
        values = [item.get(candidate) for item in items if candidate in item]
        if len(values) == len(items) and all(v is not None for v in values):
            for lst in lists:
                keys = [str(item[candidate]) for item in lst]
                if len(keys) != len(set(keys)):
                    break
            else:
                return str(candidate)
    return None


def subscription_name(operation_id: int, name: str | None) -> str:
    """The one name a recorded subscription goes by everywhere (sources tree, console, flows, `inspector stats`): its
    operation name, or `subscription N` for an anonymous one."""
    return name if name else f"subscription {operation_id}"


def frame_error(frame: Any) -> str | None:
    """The GraphQL errors a subscription frame carries, as one line, or None: an `error` frame (graphql-transport-ws
    sends a list of errors, the Apollo `graphql-ws` protocol `{"errors": [...]}`), or a result (`next`/`data`) whose
    `errors` came without data (Hasura's `mkPostExecErrMessageAction` in `server/src-lib/Hasura/GraphQL/Transport/
    WebSocket.hs`, Apollo protocol). A result with data beside its errors is a partial result, not a failed one."""
    if not isinstance(frame, Mapping):
        return None
    kind, payload = frame.get("type"), frame.get("payload")
    if kind == "error":
        errors: Any = payload.get("errors", payload) if isinstance(payload, Mapping) else payload
    elif kind in ("next", "data") and isinstance(payload, Mapping) and payload.get("data") is None:
        errors = payload.get("errors")
    else:
        return None
    if not errors:
        return None if kind != "error" else "the server refused the operation"
    items = errors if isinstance(errors, list) else [errors]
    texts = []
    for item in items:
        if isinstance(item, Mapping):
            text = str(item.get("message") or item)
            path = (item.get("extensions") or {}).get("path") if isinstance(item.get("extensions"), Mapping) else None
            texts.append(f"{text} (at {path})" if path else text)
        else:
            texts.append(str(item))
    return "; ".join(texts)
