"""Widgets several views share: the JSON tree and syntax highlighters."""
