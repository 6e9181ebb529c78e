"""Orders and customers as the shop sends and keeps them (seed 004).

Orders are JSON objects written the way pandas writes a row of the orders CSV: the CSV's keys,
ints and floats, and a bare `NaN` for a missing discount. Customers live in the operational
database (`shop.customers`), loaded from the sample export's CSV or generated.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

SOURCES = ("Affiliate", "Facebook", "Google", "Organic", "Twitter")
STATES = ("CA", "TX", "NY", "FL", "IL", "PA", "OH", "GA", "WA", "MA", "CO", "AZ", "MN", "OR", "NV")
# The sample export's customer header; Password is read past, never stored.
CUSTOMER_COLUMNS = {
    "ID": "id",
    "Name": "name",
    "Address": "address",
    "Birth Date": "birth_date",
    "City": "city",
    "Created At": "created_at",
    "Email": "email",
    "Latitude": "latitude",
    "Longitude": "longitude",
    "Source": "source",
    "State": "state",
    "Zip": "zip",
}
ORDER_INTS = ("ID", "Product ID", "Quantity", "User ID")
ORDER_FLOATS = ("Discount", "Subtotal", "Tax", "Total")
OFFSETS = (timedelta(0), timedelta(hours=-7), timedelta(hours=5, minutes=30), timedelta(hours=1))


def encode(order: dict[str, Any]) -> bytes:
    """As pandas' to_json would: a missing float is a bare NaN token."""
    return json.dumps(order, allow_nan=True).encode()


def synthetic_customers(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "ID": i,
            "Name": f"Customer {i}",
            "Address": f"{rng.randint(1, 9999)} Main St",
            "City": f"City {rng.randint(1, 300)}",
            "Email": f"customer{i}@example.com",
            "Source": rng.choice(SOURCES),
            "State": rng.choice(STATES),
            "Zip": f"{rng.randint(10000, 99999)}",
            "Password": "never-stored",
        }
        for i in range(1, count + 1)
    ]


def customers_from_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "ID" not in reader.fieldnames:
            raise ValueError(f"{path}: a customers CSV needs an ID column (got {reader.fieldnames})")
        return list(reader)


def upsert_customers(conn: Any, customers: list[dict[str, Any]]) -> int:
    """Upserts customers by ID; columns the CSV lacks stay as they were (NULL when new)."""
    loaded = 0
    cursor = conn.cursor()
    for customer in customers:
        columns = {
            column: (customer[header] if customer[header] != "" else None)
            for header, column in CUSTOMER_COLUMNS.items()
            if header in customer
        }
        names = list(columns)
        cursor.execute(
            f"INSERT INTO customers ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))}) "
            f"ON DUPLICATE KEY UPDATE {', '.join(f'{n} = VALUES({n})' for n in names if n != 'id')}",
            [columns[n] for n in names],
        )
        loaded += 1
    return loaded


def move_customer(conn: Any, rng: random.Random) -> tuple[int, str]:
    """Moves one customer to another state, so the totals have a change to follow."""
    cursor = conn.cursor()
    cursor.execute("SELECT id, state FROM customers ORDER BY RAND() LIMIT 1")
    row = cursor.fetchone()
    if row is None:
        return 0, ""
    customer_id, state = row
    new_state = rng.choice([s for s in STATES if s != state])
    cursor.execute("UPDATE customers SET state = %s WHERE id = %s", (new_state, customer_id))
    return int(customer_id), new_state


def orders_from_csv(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of an orders CSV typed as pandas reads them: ints, floats, NaN for an empty float."""
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            order: dict[str, Any] = dict(row)
            for key in ORDER_INTS:
                if order.get(key, "") != "":
                    order[key] = int(order[key])
            for key in ORDER_FLOATS:
                if key in order:
                    order[key] = float(order[key]) if order[key] != "" else math.nan
            yield order


@dataclass
class OrderFactory:
    """Seeded orders for `customers` customer ids: some years old, some with a NaN or null
    discount, and a share re-sent byte-identical."""

    customers: int = 200
    seed: int = 7
    products: int = 200
    old_rate: float = 0.05
    duplicate_rate: float = 0.05
    next_id: int = 1
    rng: random.Random = field(init=False)
    last: bytes | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def order(self, now: datetime) -> dict[str, Any]:
        rng = self.rng
        age = (
            timedelta(days=rng.uniform(1, 1500))
            if rng.random() < self.old_rate
            else timedelta(seconds=rng.uniform(0, 600))
        )
        offset = rng.choice(OFFSETS)
        created = (now - age).astimezone(timezone(offset))
        quantity = rng.randint(1, 5)
        subtotal = round(rng.uniform(10, 150) * quantity, 2)
        discount: float | None = rng.choice([math.nan, math.nan, None, round(subtotal * 0.1, 2)])
        tax = round(subtotal * 0.06, 2)
        total = round(subtotal - (discount if discount and not math.isnan(discount) else 0) + tax, 2)
        order = {
            "ID": self.next_id,
            "Created At": created.isoformat(timespec="milliseconds"),
            "Discount": discount,
            "Product ID": rng.randint(1, self.products),
            "Quantity": quantity,
            "Subtotal": subtotal,
            "Tax": tax,
            "Total": total,
            "User ID": rng.randint(1, self.customers),
        }
        self.next_id += 1
        return order

    def next(self, now: datetime) -> bytes:
        if self.last is not None and self.rng.random() < self.duplicate_rate:
            return self.last
        self.last = encode(self.order(now))
        return self.last

    def stream(self, count: int, now: datetime) -> Iterator[bytes]:
        for _ in range(count):
            yield self.next(now)
