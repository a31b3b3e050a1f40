"""`inspector sandbox`: a local backend that speaks Hasura v2's protocols and runs the 3factor food-ordering example.

GUI-free. Modules: `tables` (the example's schema), `database` (SQLite + sessions), `eventing` (event triggers and the
event log), `graphql_schema` / `graphql_engine` (Hasura's GraphQL API), `graphql_ws` (both WebSocket subprotocols),
`metadata_api`, `delivery` (the event processor), `handlers` (the serverless functions), `traffic`, `config`, and
`server` (`Sandbox`, which runs them together).
"""
