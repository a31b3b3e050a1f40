"""The detail pane: one event's payload, changes and invocations."""
