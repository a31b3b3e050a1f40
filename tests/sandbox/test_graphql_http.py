"""GraphQL over HTTP: Hasura's root fields, type names, filters, mutations, errors and authentication."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from inspector.sandbox.server import Sandbox
from tests.conftest import ADMIN_SECRET


async def post(sandbox: Sandbox, query: str, variables: dict[str, Any] | None = None, **headers: str) -> Any:
    send = {"x-hasura-admin-secret": ADMIN_SECRET, **{k.replace("_", "-"): v for k, v in headers.items()}}
    send = {k: v for k, v in send.items() if v is not None}
    async with (
        aiohttp.ClientSession() as session,
        session.post(sandbox.graphql_url, json={"query": query, "variables": variables}, headers=send) as answer,
    ):
        assert answer.status == 200
        return await answer.json()


ORDER = 'insert_orders_one(object: {order_id: "%s", user_id: "u%d", restaurant_id: %d, address: "a"}) { order_id }'


async def place(sandbox: Sandbox, n: int) -> None:
    fields = " ".join(f"o{i}: " + ORDER % (f"order-{i}", i % 2, i) for i in range(n))
    result = await post(sandbox, f"mutation {{ {fields} }}")
    assert "errors" not in result, result


async def test_menu_items_seed_rows(sandbox: Sandbox) -> None:
    result = await post(sandbox, "{ menu_items { name } }")
    assert [r["name"] for r in result["data"]["menu_items"]] == [
        "pizza",
        "mangoes",
        "chocolate milkshake",
        "burger",
        "burger",
        "idli",
    ]


async def test_hasura_type_and_root_field_names(sandbox: Sandbox) -> None:
    result = await post(
        sandbox,
        "{ __schema { types { name } queryType { name } mutationType { name } "
        "subscriptionType { name fields { name } } } }",
    )
    schema = result["data"]["__schema"]
    names = {t["name"] for t in schema["types"]}
    for expected in (
        "orders",
        "orders_insert_input",
        "orders_bool_exp",
        "orders_set_input",
        "orders_order_by",
        "orders_stream_cursor_input",
        "orders_stream_cursor_value_input",
        "orders_mutation_response",
        "orders_pk_columns_input",
        "orders_on_conflict",
        "String_comparison_exp",
        "order_by",
        "cursor_ordering",
        "timestamptz",
        "items_inc_input",
        "number_orders",
    ):
        assert expected in names, expected
    assert (schema["queryType"]["name"], schema["mutationType"]["name"]) == ("query_root", "mutation_root")
    assert schema["subscriptionType"]["name"] == "subscription_root"
    fields = {f["name"] for f in schema["subscriptionType"]["fields"]}
    assert {"orders", "orders_by_pk", "orders_stream", "items_stream"} <= fields


async def test_where_order_by_limit_offset(sandbox: Sandbox) -> None:
    await place(sandbox, 6)
    result = await post(
        sandbox,
        "query ($ids: [String!]) { a: orders(where: {_and: [{restaurant_id: {_gt: 1}}, {restaurant_id: {_lt: 5}}]},"
        " order_by: {restaurant_id: desc}) { restaurant_id }"
        " b: orders(where: {order_id: {_in: $ids}}, order_by: [{order_id: asc}], limit: 1, offset: 1) { order_id }"
        ' c: orders(where: {user_id: {_neq: "u0"}, restaurant_id: {_eq: 3}}) { order_id }'
        " d: orders_aggregate(where: {_or: [{restaurant_id: {_eq: 0}}, {restaurant_id: {_eq: 5}}]})"
        " { aggregate { count } } e: number_orders { count } }",
        {"ids": ["order-1", "order-2", "order-3"]},
    )
    data = result["data"]
    assert [r["restaurant_id"] for r in data["a"]] == [4, 3, 2]
    assert data["b"] == [{"order_id": "order-2"}]
    assert data["c"] == [{"order_id": "order-3"}]
    assert data["d"]["aggregate"]["count"] == 2
    assert data["e"] == [{"count": 6}]


async def test_update_delete_by_pk_and_mutation_response(sandbox: Sandbox) -> None:
    await place(sandbox, 2)
    result = await post(
        sandbox,
        'mutation { update_orders_by_pk(pk_columns: {order_id: "order-0"}, _set: {placed: true}) { placed }'
        ' update_orders(where: {order_id: {_eq: "order-1"}}, _set: {address: "b"}, _inc: {restaurant_id: 10})'
        " { affected_rows returning { address restaurant_id } } }",
    )
    assert result["data"]["update_orders_by_pk"] == {"placed": True}
    assert result["data"]["update_orders"] == {"affected_rows": 1, "returning": [{"address": "b", "restaurant_id": 11}]}
    gone = await post(sandbox, 'mutation { delete_orders_by_pk(order_id: "nope") { order_id } }')
    assert gone == {"data": {"delete_orders_by_pk": None}}


async def test_insert_returns_defaults_and_on_conflict(sandbox: Sandbox) -> None:
    result = await post(
        sandbox,
        'mutation { insert_orders_one(object: {order_id: "x", user_id: "u", restaurant_id: 1, address: "a"})'
        " { placed approved order_valid payment_valid created } }",
    )
    row = result["data"]["insert_orders_one"]
    assert (row["placed"], row["approved"], row["order_valid"], row["payment_valid"]) == (False, False, False, None)
    assert row["created"].endswith("+00:00")
    again = await post(
        sandbox,
        'mutation { insert_orders_one(object: {order_id: "x", user_id: "u2", restaurant_id: 1, address: "a"},'
        " on_conflict: {constraint: orders_pkey, update_columns: [user_id]}) { user_id } }",
    )
    assert again["data"]["insert_orders_one"] == {"user_id": "u2"}
    ignored = await post(
        sandbox,
        'mutation { insert_orders_one(object: {order_id: "x", user_id: "u3", restaurant_id: 1, address: "a"},'
        " on_conflict: {constraint: orders_pkey, update_columns: []}) { user_id } }",
    )
    assert ignored["data"]["insert_orders_one"] is None


async def test_constraint_violation_rolls_back_the_whole_mutation(sandbox: Sandbox) -> None:
    result = await post(
        sandbox,
        'mutation { a: insert_orders_one(object: {order_id: "y", user_id: "u", restaurant_id: 1, address: "a"})'
        ' { order_id } b: insert_items(objects: [{order_id: "no-such-order", item: "pizza"}]) { affected_rows } }',
    )
    assert result["errors"][0]["extensions"]["code"] == "constraint-violation"
    assert "data" not in result
    check = await post(sandbox, '{ orders_by_pk(order_id: "y") { order_id } }')
    assert check["data"]["orders_by_pk"] is None


async def test_session_variables_reach_the_event_payload(sandbox: Sandbox) -> None:
    await post(
        sandbox,
        'mutation { insert_orders_one(object: {order_id: "s", user_id: "u", restaurant_id: 1, address: "a"})'
        " { order_id } }",
        x_hasura_role="user",
        x_hasura_user_id="u-42",
    )
    assert sandbox.db is not None
    row = sandbox.db.conn.execute("SELECT payload FROM hdb_event_log WHERE trigger_name = 'validate-order'").fetchone()
    payload = json.loads(row["payload"])
    assert payload["session_variables"] == {"x-hasura-role": "user", "x-hasura-user-id": "u-42"}
    assert payload["op"] == "INSERT" and payload["data"]["old"] is None
    assert len(payload["trace_context"]["trace_id"]) == 32


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("wrong", "invalid x-hasura-admin-secret/x-hasura-access-key"),
        (None, "x-hasura-admin-secret/x-hasura-access-key required, but not found"),
    ],
)
async def test_wrong_or_missing_secret_is_refused(sandbox: Sandbox, secret: str | None, message: str) -> None:
    result = await post(sandbox, "{ orders { order_id } }", x_hasura_admin_secret=secret)  # type: ignore[arg-type]
    assert result == {"errors": [{"message": message, "extensions": {"path": "$", "code": "access-denied"}}]}


async def test_invalid_requests_get_clear_errors(sandbox: Sandbox) -> None:
    bad_field = await post(sandbox, "{ nope }")
    assert bad_field["errors"][0]["extensions"]["code"] == "validation-failed"
    assert "nope" in bad_field["errors"][0]["message"]
    syntax = await post(sandbox, "{ orders { ")
    assert syntax["errors"][0]["extensions"]["code"] == "validation-failed"
    bad_var = await post(sandbox, "query ($n: Int) { orders(limit: $n) { order_id } }", {"n": "many"})
    assert bad_var["errors"][0]["extensions"]["code"] == "validation-failed"
    sub = await post(sandbox, "subscription { orders { order_id } }")
    assert "websockets" in sub["errors"][0]["message"]
    async with aiohttp.ClientSession() as session:
        async with session.post(
            sandbox.graphql_url, data=b"{not json", headers={"x-hasura-admin-secret": ADMIN_SECRET}
        ) as r:
            assert r.status == 400
            assert (await r.json())["code"] == "invalid-json"
        async with session.get(f"{sandbox.base_url}/healthz") as r:
            assert (r.status, await r.text()) == (200, "OK")
    # the server still answers after all that
    assert "data" in await post(sandbox, "{ menu_items { name } }")
