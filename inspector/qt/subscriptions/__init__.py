"""The subscriptions console: running GraphQL subscriptions and reading their messages."""
