"""An independent oracle for `analytics.total_sales_by_source_state`: plain Python over the
exact messages sent and the customers loaded, written from the orders contract (DESIGN 4.3)
without the pipeline's code."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

Group = tuple[str, str]  # (source, state)


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, float) and math.isfinite(value) and value == int(value)
    )


def valid(order: Any) -> bool:
    if not isinstance(order, dict) or not _is_int(order.get("ID")) or not _is_int(order.get("User ID")):
        return False
    total = order.get("Total")
    if isinstance(total, bool) or not isinstance(total, (int, float)) or not math.isfinite(total):
        return False
    try:
        datetime.fromisoformat(str(order.get("Created At")).replace("Z", "+00:00"))
    except ValueError:
        return False
    quantity = order.get("Quantity")
    return quantity is None or (_is_int(quantity) and quantity >= 0)


def orders_of(messages: Iterable[bytes]) -> dict[int, dict[str, Any]]:
    """The distinct valid orders by ID; a later message with the same ID replaces an earlier one."""
    orders: dict[int, dict[str, Any]] = {}
    for message in messages:
        try:
            order = json.loads(message)
        except ValueError:
            continue
        if valid(order):
            orders[int(order["ID"])] = order
    return orders


def expected_sales(
    messages: Iterable[bytes], customers: Mapping[int, tuple[str | None, str | None]]
) -> dict[Group, tuple[Decimal, int]]:
    """(source, state) -> (exact sum of Total, order count) over orders whose customer is known."""
    sales: dict[Group, tuple[Decimal, int]] = {}
    for order in orders_of(messages).values():
        customer = customers.get(int(order["User ID"]))
        if customer is None:
            continue  # kept raw until the customer appears
        group = (customer[0] or "", customer[1] or "")
        total, count = sales.get(group, (Decimal(0), 0))
        sales[group] = (total + Decimal(repr(float(order["Total"]))), count + 1)
    return sales
