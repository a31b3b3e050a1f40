"""GraphQL validation errors in Hasura's words: graphql-core validates the request, and this module rewords the errors
Hasura's own parser would report for the same mistake, with Hasura's `extensions.path`.

Owns `hasura_validation_errors`, which `graphql_engine.GraphQLEngine.prepare` calls with graphql-core's errors. Checked
against Hasura's source (repository `hasura/graphql-engine`, schema parsers in
`server/lib/schema-parsers/src/Hasura/GraphQL/Parser/`; names and types are quoted by `toErrorValue`, `squote` for a
`G.Name` and a `G.GType`, in `server/lib/error-message/src/Hasura/Base/ToErrorValue.hs`):

- unknown field: `field 'x' not found in type: 'orders'`, path `$.selectionSet.orders.selectionSet.x`
  (`selectionSetObject` in `Internal/Parser.hs`);
- unknown argument: `'orders' has no argument named 'x'`, the field's path (`rawSubselection`, same file);
- missing argument or required input field: `missing required field 'batch_size'`, path `….args.batch_size`
  (`field` in `Internal/Input.hs`);
- literal of the wrong type: `expected a 32-bit integer for type 'Int', but found a string`, the value's path
  (`Internal/Scalars.hs`, `typeMismatch` in `Internal/TypeChecking.hs`);
- variable of the wrong type: `variable 'n' is declared as 'String', but used where 'Int' is expected`, the usage's
  path (`typeCheck` in `Internal/TypeChecking.hs`).

Hasura's path names fields by name (not alias) and goes through `selectionSet`, `args`, input object keys and `[i]` for
list items. Hasura stops at its first error, so only the first is reported. Errors not in the table (and a mistake
whose location this module cannot place) keep graphql-core's message with path `$`. Also Hasura's but not from the
parsers: an unknown `operationName` (`getQueryParts` in `server/src-lib/Hasura/GraphQL/Execute.hs`), which
`graphql_engine` words itself (`unknown_operation_message`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from graphql import (
    ArgumentNode,
    BooleanValueNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    Node,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
    get_named_type,
)

__all__ = ["hasura_validation_errors", "unknown_operation_message"]

Error = dict[str, Any]

_EXPECTED = {"Int": "a 32-bit integer", "Float": "a float", "String": "a string", "Boolean": "a boolean"}
"""What Hasura's built-in scalar parsers say they expected (`Internal/Scalars.hs`)."""

_FOUND: dict[type[Node], str] = {
    IntValueNode: "an integer",
    FloatValueNode: "a float",
    StringValueNode: "a string",
    BooleanValueNode: "a boolean",
    NullValueNode: "null",
    EnumValueNode: "an enum value",
    ListValueNode: "a list",
    ObjectValueNode: "an object",
}
"""`describeGraphQL` in `Internal/TypeChecking.hs`."""

# graphql-core 3.2/3.3 messages, matched to know which mistake an error is.
_UNKNOWN_FIELD = re.compile(r"^Cannot query field '([^']+)' on type '([^']+)'\.")
_UNKNOWN_ARGUMENT = re.compile(r"^Unknown argument '([^']+)' on field '[^'.]+\.([^']+)'\.")
_MISSING_ARGUMENT = re.compile(r"^Argument '[^']*\((\w+):\)' of type '[^']+' is required")
_MISSING_INPUT_FIELD = re.compile(
    r"^(?:Field '[^'.]+\.(\w+)' of required type '[^']+' was not provided\."  # graphql-core 3.2
    r"|Expected value of type '[^']+' to include required field '(\w+)')"  # 3.3
)
_WRONG_SCALAR = re.compile(r"^(Int|Float|String|Boolean) cannot represent ")
_WRONG_VARIABLE = re.compile(r"^Variable '\$(\w+)' of type '([^']+)' used in position expecting type '([^']+)'\.")


def unknown_operation_message(operation_name: str | None) -> str:
    """Hasura's message when `operationName` picks no operation (`getQueryParts`, `throw400 ValidationFailed`)."""
    if operation_name:
        return f'no such operation found in the document: "{operation_name}"'
    return "exactly one operation has to be present in the document when operationName is not specified"


def hasura_validation_errors(
    schema: GraphQLSchema, document: DocumentNode, errors: list[GraphQLError], hasura_error: Callable[..., Error]
) -> list[Error]:
    """The first of graphql-core's validation `errors`, as Hasura reports it (`hasura_error(message, code, path)`)."""
    first = errors[0]
    paths = _Paths(schema, document)
    node = first.nodes[-1] if first.nodes else None
    where = paths.of(node)
    message = first.message
    reworded: str | None = None
    if where is not None:
        if match := _UNKNOWN_FIELD.match(message):
            reworded = f"field '{match[1]}' not found in type: '{match[2]}'"
        elif match := _UNKNOWN_ARGUMENT.match(message):
            # reported on the field: Hasura checks the argument names before parsing them
            where = where.rsplit(".args.", 1)[0]
            reworded = f"'{match[2]}' has no argument named '{match[1]}'"
        elif match := _MISSING_ARGUMENT.match(message):
            where = f"{where}.args.{match[1]}"
            reworded = f"missing required field '{match[1]}'"
        elif match := _MISSING_INPUT_FIELD.match(message):
            name = match[1] or match[2]
            where = f"{where}.{name}"
            reworded = f"missing required field '{name}'"
        elif (
            (match := _WRONG_SCALAR.match(message))
            and node is not None
            and type(node) in _FOUND
            # an Int literal beyond 32 bits: Hasura's words for it (`scientificToInteger`) are not modelled
            and not (match[1] == "Int" and isinstance(node, IntValueNode))
        ):
            scalar = match[1]
            reworded = f"expected {_EXPECTED[scalar]} for type '{scalar}', but found {_FOUND[type(node)]}"
        elif match := _WRONG_VARIABLE.match(message):
            reworded = f"variable '{match[1]}' is declared as '{match[2]}', but used where '{match[3]}' is expected"
    if reworded is None or where is None:
        return [hasura_error(message, "validation-failed", "$")]
    return [hasura_error(reworded, "validation-failed", where)]


class _Paths:
    """Hasura's path of every field, argument and input value of a document's operations, found by walking them
    with the schema's types (fragments inlined, as Hasura inlines them before parsing)."""

    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self._paths: dict[int, str] = {}
        self._fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        roots = {
            OperationType.QUERY: schema.query_type,
            OperationType.MUTATION: schema.mutation_type,
            OperationType.SUBSCRIPTION: schema.subscription_type,
        }
        self._schema = schema
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                self._selections(definition.selection_set, roots.get(definition.operation), "$", set())

    def of(self, node: Node | None) -> str | None:
        return None if node is None else self._paths.get(id(node))

    def _selections(self, selection_set: SelectionSetNode | None, parent: Any, path: str, spreads: set[str]) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self._field(selection, parent, f"{path}.selectionSet.{selection.name.value}", spreads)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self._schema.get_type(condition.name.value) if condition else parent
                self._selections(selection.selection_set, inner, path, spreads)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in spreads:
                fragment = self._fragments.get(selection.name.value)
                if fragment is not None:
                    inner = self._schema.get_type(fragment.type_condition.name.value)
                    self._selections(fragment.selection_set, inner, path, spreads | {selection.name.value})

    def _field(self, node: FieldNode, parent: Any, path: str, spreads: set[str]) -> None:
        self._paths.setdefault(id(node), path)
        definition = parent.fields.get(node.name.value) if isinstance(parent, GraphQLObjectType) else None
        for argument in node.arguments or ():
            self._argument(argument, definition, f"{path}.args.{argument.name.value}")
        sub_type = get_named_type(definition.type) if definition is not None else None
        self._selections(node.selection_set, sub_type, path, spreads)

    def _argument(self, node: ArgumentNode, field: Any, path: str) -> None:
        self._paths.setdefault(id(node), path)
        argument = field.args.get(node.name.value) if field is not None else None
        self._value(node.value, argument.type if argument is not None else None, path)

    def _value(self, node: Node, input_type: GraphQLInputType | None, path: str) -> None:
        self._paths.setdefault(id(node), path)
        if isinstance(input_type, GraphQLNonNull):
            input_type = input_type.of_type
        if isinstance(node, ObjectValueNode):
            fields = input_type.fields if isinstance(input_type, GraphQLInputObjectType) else {}
            for object_field in node.fields:
                name = object_field.name.value
                field = fields.get(name)
                self._paths.setdefault(id(object_field), f"{path}.{name}")
                self._value(object_field.value, field.type if field is not None else None, f"{path}.{name}")
        elif isinstance(node, ListValueNode):
            item_type = input_type.of_type if isinstance(input_type, GraphQLList) else input_type
            for index, item in enumerate(node.values):
                self._value(item, item_type, f"{path}[{index}]")
        elif isinstance(node, VariableNode):
            pass  # the usage's path is the value's, recorded above
