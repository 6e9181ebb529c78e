"""Stream `orders`: e-commerce orders, current sales totals by customer source and state
(DESIGN 4.3).

The wire contract is the one existing order producers speak: topic `orderstopicdemo`, no key,
one JSON object per order written the way pandas writes a row of an orders CSV (`"ID"`,
`"Created At"` with an offset, `"Discount"` as a float, a bare `NaN` or null, `"Product ID"`,
`"Quantity"`, `"Subtotal"`, `"Tax"`, `"Total"`, `"User ID"`). Identity is the order ID, in
every bucket: a re-sent order replaces its earlier version wherever that lies, even in another
hour (a corrected `"Created At"`), the newest by Kafka timestamp winning (jobs/versions.py).
Orders are business records: kept forever by default.

Totals are a fresh join of all orders with the current customers, kept incrementally in three
steps, each exact (DECIMAL of each amount's shortest decimal form):
1. `order_partials` (bucket, user): sums of the bucket's orders per customer;
2. `order_user_totals` (user): re-rolled for the customers a chunk touched (the engine's rollup);
3. `total_sales_by_source_state` (source, state): re-rolled for those customers' groups from
   (2) joined with `customer_dim`, the customers as of this run, with one history row per run
   and changed group in `sales_history` and the run's grand total in `sales_runs`.
Each run first brings `customer_dim` up to date with the operational `shop.customers` and
re-rolls the groups a change touches: a moved customer takes their orders along, and orders
of a customer who was unknown join the totals as soon as the customer appears. That diff
reads the customers table (its cost follows the customers, never the orders' history).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, LongType, StringType

from jobs import strict_json
from jobs.parsed import parsed_stream
from jobs.spec import (
    AggregateContext,
    GlobalIdentity,
    ParseResult,
    Reject,
    Rollup,
    RunContext,
    iso_instant,
    row_constructors,
)
from wire.formats import TOPICS

if TYPE_CHECKING:
    from jobs.settings import JobSettings

ORDERS = "orders"
BUCKET_SECONDS = 3600  # orders are sparse and often old: hour buckets keep the dirty set small
AMOUNT = "DECIMAL(30,10)"  # one order's amount; sums get DECIMAL(38,10)
UNKNOWN = ""  # a customer without a source or state is grouped under ""
# One amount of money at most. Each total is cast to DECIMAL(30,10) (below 1e20) and summed as
# DECIMAL(38,10) (below 1e28): at 1e12 an order, 1e16 orders would be needed to overflow a sum.
MAX_AMOUNT = 1e12
MAX_QUANTITY = 2**31 - 1  # an INT column
BIGINT = (-(2**63), 2**63 - 1)  # the ids' LONG columns


def _integer(value: Any) -> int | None:
    """An integer, or an integral float as pandas writes an int column holding NaN elsewhere."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _number(value: Any) -> float | None:
    """A number as a float (±inf for an integer past the largest double); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an integer of more than 308 digits
        return math.inf if value > 0 else -math.inf


def _amount(key: str, value: Any) -> float | Reject:
    """An amount of money: a finite number from 0 to MAX_AMOUNT, or why it is not one."""
    number = _number(value)
    shown = f"{key}={str(value)[:64]}"
    if number is None:
        return Reject("invalid_type", shown)
    if not math.isfinite(number):
        return Reject("non_finite_number", shown)
    if number < 0:
        return Reject("negative_value", shown)
    if number > MAX_AMOUNT:
        return Reject("out_of_range", shown)
    return number


def _optional_number(order: dict[str, Any], key: str) -> float | Reject | None:
    value = order.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None  # pandas writes a missing value as NaN or null
    return _amount(key, value)


def _out_of_range(key: str, value: int | None, low: int, high: int) -> Reject | None:
    return None if value is None or low <= value <= high else Reject("out_of_range", f"{key}={str(value)[:64]}")


def parse(payload: bytes) -> ParseResult:
    """One Kafka message value to its one raw row, or a reject with the reason."""
    order = strict_json.load(payload)
    if isinstance(order, Reject):
        return order
    if not isinstance(order, dict):
        return Reject("not_an_object", type(order).__name__)
    order_id = _integer(order.get("ID"))
    if order_id is None:
        return Reject("bad_id", f"ID={str(order.get('ID'))[:64]}")
    user_id = _integer(order.get("User ID"))
    if user_id is None:
        return Reject("bad_user_id", f"User ID={str(order.get('User ID'))[:64]}")
    total = _number(order.get("Total"))
    if total is None or not math.isfinite(total):
        return Reject("bad_total", f"Total={str(order.get('Total'))[:64]}")
    created = order.get("Created At")
    try:
        moment = iso_instant(created) if isinstance(created, str) else None
    except OverflowError:  # an offset that moves the time past year 9999 or before year 1
        moment = None
    if moment is None:
        return Reject("bad_created_at", f"Created At={str(created)[:64]}")
    quantity = order.get("Quantity")
    if quantity is not None and _integer(quantity) is None:
        return Reject("invalid_type", f"Quantity={str(quantity)[:64]}")
    if quantity is not None and quantity < 0:
        return Reject("negative_quantity", f"Quantity={quantity}")
    product = order.get("Product ID")
    if product is not None and _integer(product) is None:
        return Reject("invalid_type", f"Product ID={str(product)[:64]}")
    ranges = (
        _out_of_range("ID", order_id, *BIGINT),
        _out_of_range("User ID", user_id, *BIGINT),
        _out_of_range("Product ID", _integer(product), *BIGINT),
        _out_of_range("Quantity", _integer(quantity), 0, MAX_QUANTITY),
    )
    amounts: dict[str, float | Reject | None] = {"Total": _amount("Total", order["Total"])}
    amounts |= {key: _optional_number(order, key) for key in ("Discount", "Subtotal", "Tax")}
    for bad in (*ranges, *amounts.values()):
        if isinstance(bad, Reject):
            return bad
    return [
        {
            "event_time": moment,
            "order_id": order_id,
            "user_id": user_id,
            "created_at": created,
            "discount": amounts["Discount"],
            "product_id": _integer(product),
            "quantity": _integer(quantity),
            "subtotal": amounts["Subtotal"],
            "tax": amounts["Tax"],
            "total": amounts["Total"],
        }
    ]


RAW_FIELDS = (
    ("order_id", LongType()),
    ("user_id", LongType()),
    ("created_at", StringType()),
    ("discount", DoubleType()),
    ("product_id", LongType()),
    ("quantity", IntegerType()),
    ("subtotal", DoubleType()),
    ("tax", DoubleType()),
    ("total", DoubleType()),
)


def customer_partials(raw: DataFrame, _context: AggregateContext) -> DataFrame:
    """Exact per-(bucket, customer) sums of the orders' totals."""
    return raw.groupBy("bucket", "user_id").agg(
        F.sum(F.col("total").cast("decimal(30,10)")).cast("decimal(38,10)").alias("total"),
        F.count(F.lit(1)).cast("int").alias("orders"),
    )


# --- step 3: groups, from the customers' totals and the customers as of this run ---------------

GROUP = "(d.source, d.state)"


def reroll_groups(cursor: Any, groups: Iterable[tuple[Any, ...]], context: RunContext) -> int:
    """Makes the rows of these (source, state) groups a fresh join of the customers' totals
    with `customer_dim`, stamps the ones that changed with this run and records them in
    `sales_history`."""
    touched = 0
    for chunk in row_constructors(sorted(groups), 2):
        sql, values = chunk
        cursor.execute(
            "INSERT INTO total_sales_by_source_state "
            "(source, state, total_sum_amount, order_count, processed_at, batch_id) "
            "SELECT d.source, d.state, SUM(u.total), SUM(u.orders), UTC_TIMESTAMP(6), %s "
            "FROM customer_dim d JOIN order_user_totals u ON u.user_id = d.id "
            f"WHERE {GROUP} IN ({sql}) GROUP BY d.source, d.state "
            # processed_at and batch_id first, while the old numbers are still there to compare.
            "ON DUPLICATE KEY UPDATE "
            "processed_at = IF(total_sum_amount <=> VALUES(total_sum_amount) "
            "  AND order_count <=> VALUES(order_count), processed_at, VALUES(processed_at)), "
            "batch_id = IF(processed_at <=> VALUES(processed_at), VALUES(batch_id), batch_id), "
            "total_sum_amount = VALUES(total_sum_amount), order_count = VALUES(order_count)",
            [context.run_id, *values],
        )
        touched += cursor.rowcount
        cursor.execute(
            "DELETE s FROM total_sales_by_source_state s "
            f"WHERE (s.source, s.state) IN ({sql}) AND NOT EXISTS ("
            "SELECT 1 FROM customer_dim d JOIN order_user_totals u ON u.user_id = d.id "
            "WHERE d.source = s.source AND d.state = s.state)",
            values,
        )
        touched += cursor.rowcount
    cursor.execute(
        "INSERT INTO sales_history (batch_id, source, state, total_sum_amount, order_count, processed_at) "
        "SELECT batch_id, source, state, total_sum_amount, order_count, processed_at "
        "FROM total_sales_by_source_state WHERE batch_id = %s "
        "ON DUPLICATE KEY UPDATE total_sum_amount = VALUES(total_sum_amount), "
        "order_count = VALUES(order_count), processed_at = VALUES(processed_at)",
        (context.run_id,),
    )
    # The run's grand total, for the trend over runs.
    cursor.execute(
        "INSERT INTO sales_runs (batch_id, processed_at, total_sum_amount, order_count, `groups`) "
        "SELECT %s, UTC_TIMESTAMP(6), COALESCE(SUM(total_sum_amount), 0), COALESCE(SUM(order_count), 0), COUNT(*) "
        "FROM total_sales_by_source_state ON DUPLICATE KEY UPDATE processed_at = VALUES(processed_at), "
        "total_sum_amount = VALUES(total_sum_amount), order_count = VALUES(order_count), `groups` = VALUES(`groups`)",
        (context.run_id,),
    )
    return touched


def groups_of_customers(cursor: Any, customers: set[tuple[Any, ...]], context: RunContext) -> int:
    """After the customers' totals changed: re-roll the groups those customers are in."""
    groups: set[tuple[Any, ...]] = set()
    for sql, values in row_constructors(sorted(customers), 1):
        cursor.execute(f"SELECT DISTINCT source, state FROM customer_dim WHERE (id) IN ({sql})", values)
        groups.update(tuple(row) for row in cursor.fetchall())
    return reroll_groups(cursor, groups, context)


def sync_customers(cursor: Any, context: RunContext) -> int:
    """Brings `customer_dim` up to date with the operational customers and re-rolls every group
    a change touches (the customer's old group and new one). Returns the rows it touched."""
    shop = f"`{context.settings.shop_database}`.customers"
    cursor.execute(
        f"SELECT c.id, COALESCE(c.source, ''), COALESCE(c.state, ''), d.source, d.state FROM {shop} c "
        "LEFT JOIN customer_dim d ON d.id = c.id "
        "WHERE d.id IS NULL OR d.source <> COALESCE(c.source, '') OR d.state <> COALESCE(c.state, '')"
    )
    changed = cursor.fetchall()
    cursor.execute(
        f"SELECT d.id, d.source, d.state FROM customer_dim d LEFT JOIN {shop} c ON c.id = d.id WHERE c.id IS NULL"
    )
    gone = cursor.fetchall()
    if not changed and not gone:
        return 0
    groups = {(source, state) for _, source, state, _, _ in changed}
    groups |= {(old_source, old_state) for _, _, _, old_source, old_state in changed if old_source is not None}
    groups |= {(source, state) for _, source, state in gone}
    for start in range(0, len(changed), 2_000):
        cursor.executemany(
            "INSERT INTO customer_dim (id, source, state) VALUES (%s, %s, %s) "
            "ON DUPLICATE KEY UPDATE source = VALUES(source), state = VALUES(state)",
            [row[:3] for row in changed[start : start + 2_000]],
        )
    for sql, values in row_constructors(sorted((row[0],) for row in gone), 1):
        cursor.execute(f"DELETE FROM customer_dim WHERE (id) IN ({sql})", values)
    return len(changed) + len(gone) + reroll_groups(cursor, groups, context)


def unmatched_orders(cursor: Any, _context: RunContext) -> dict[str, float]:
    """Orders kept raw because their customer is not (yet) known."""
    cursor.execute(
        "SELECT COALESCE(SUM(u.orders), 0) FROM order_user_totals u "
        "LEFT JOIN customer_dim d ON d.id = u.user_id WHERE d.id IS NULL"
    )
    (orders,) = cursor.fetchone()
    return {"unmatched_orders": float(orders)}


# --- tables ----------------------------------------------------------------------------------


def mysql_ddl(database: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS `{database}`.order_partials (
  bucket DATETIME NOT NULL,
  user_id BIGINT NOT NULL,
  total {AMOUNT} NOT NULL,
  orders INT NOT NULL,
  PRIMARY KEY (bucket, user_id),
  KEY by_user (user_id)
)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.order_user_totals (
  user_id BIGINT NOT NULL PRIMARY KEY,
  total DECIMAL(38,10) NOT NULL,
  orders INT NOT NULL
)""",
        # The customers as of the last aggregate run: what the totals are joined with.
        f"""CREATE TABLE IF NOT EXISTS `{database}`.customer_dim (
  id BIGINT NOT NULL PRIMARY KEY,
  source VARCHAR(64) NOT NULL,
  state VARCHAR(64) NOT NULL,
  KEY by_group (source, state)
)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.total_sales_by_source_state (
  source VARCHAR(64) NOT NULL,
  state VARCHAR(64) NOT NULL,
  total_sum_amount DECIMAL(38,10) NOT NULL,
  order_count BIGINT NOT NULL,
  processed_at DATETIME(6) NOT NULL,
  batch_id VARCHAR(64) NOT NULL,
  PRIMARY KEY (source, state),
  KEY by_batch (batch_id)
)""",
        # One row per run and group it changed: the trend over runs.
        f"""CREATE TABLE IF NOT EXISTS `{database}`.sales_history (
  batch_id VARCHAR(64) NOT NULL,
  source VARCHAR(64) NOT NULL,
  state VARCHAR(64) NOT NULL,
  total_sum_amount DECIMAL(38,10) NOT NULL,
  order_count BIGINT NOT NULL,
  processed_at DATETIME(6) NOT NULL,
  PRIMARY KEY (batch_id, source, state),
  KEY by_time (processed_at)
)""",
        # One row per run that changed any group: all groups' totals after it.
        f"""CREATE TABLE IF NOT EXISTS `{database}`.sales_runs (
  batch_id VARCHAR(64) NOT NULL PRIMARY KEY,
  processed_at DATETIME(6) NOT NULL,
  total_sum_amount DECIMAL(38,10) NOT NULL,
  order_count BIGINT NOT NULL,
  `groups` INT NOT NULL,
  KEY by_time (processed_at)
)""",
    ]


def shop_ddl(database: str) -> list[str]:
    """The operational customers table the shop's application owns (created if missing)."""
    return [
        f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.customers (
  id BIGINT NOT NULL PRIMARY KEY,
  name VARCHAR(255) NULL,
  address VARCHAR(255) NULL,
  birth_date VARCHAR(32) NULL,
  city VARCHAR(128) NULL,
  created_at VARCHAR(64) NULL,
  email VARCHAR(255) NULL,
  latitude DOUBLE NULL,
  longitude DOUBLE NULL,
  source VARCHAR(64) NULL,
  state VARCHAR(64) NULL,
  zip VARCHAR(16) NULL,
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
)""",
    ]


def operational_ddl(settings: JobSettings) -> list[str]:
    return shop_ddl(settings.shop_database)


STREAM = parsed_stream(
    name=ORDERS,
    topics=(TOPICS[ORDERS],),
    bucket_seconds=BUCKET_SECONDS,
    raw_table="orders_raw",
    fields=RAW_FIELDS,
    identity=("order_id",),
    parse=parse,
    mysql_ddl=mysql_ddl,
    operational_ddl=operational_ddl,
    partials=customer_partials,
    aggregate_columns=("user_id", "total"),
    rollup=Rollup(
        table="order_user_totals",
        partials_table="order_partials",
        partial_columns=("bucket", "user_id", "total", "orders"),
        key=(),
        period=("user_id",),
        upsert="INSERT INTO order_user_totals (user_id, total, orders) "
        "SELECT user_id, SUM(total), SUM(orders) FROM order_partials WHERE (user_id) IN ({periods}) "
        "GROUP BY user_id ON DUPLICATE KEY UPDATE total = VALUES(total), orders = VALUES(orders)",
        then=groups_of_customers,
    ),
    before_run=sync_customers,
    gauges=unmatched_orders,
    global_identity=GlobalIdentity("order_id", "bigint"),
    # Orders are business records: kept forever, any age accepted, unless set.
    retention_days=0,
)
