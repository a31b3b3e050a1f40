"""Custom item-data roles shared by Inspector's Qt models and views (one place, so no two models collide)."""

from __future__ import annotations

from PySide6.QtCore import Qt

USER = int(Qt.ItemDataRole.UserRole)

EVENT_ID_ROLE = USER + 1
"""The Hasura event id of a row (str)."""
SEQ_ROLE = USER + 2
"""The capture-order `seq` of a row (int)."""
ROW_ROLE = USER + 3
"""The whole row as a dict (column name → value), as read from the capture."""
RULE_ROLE = USER + 4
"""The name of the colouring rule that matched the row, or None."""
MARKED_ROLE = USER + 5
"""Whether the row is marked (bool)."""
JSON_PATH_ROLE = USER + 6
"""In JSON trees: the path of an item, e.g. `data.new.order_id`."""
JSON_VALUE_ROLE = USER + 7
"""In JSON trees: the JSON value of an item."""
