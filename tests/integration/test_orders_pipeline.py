"""The orders stream end to end on the local stack, checked group for group against the oracle."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cassandra.cluster import Session

from oracles.orders import expected_sales
from producer.orders import OrderFactory, encode, synthetic_customers

from .pipeline import Pipeline

NOW = datetime.now(timezone.utc)
HEADER = ["ID", "Name", "Address", "Birth Date", "City", "Created At", "Email", "Latitude", "Longitude", "Password",
          "Source", "State", "Zip"]  # fmt: skip
UNKNOWN_CUSTOMER = 9_999


def order(order_id: int, user_id: int, total: Any = 10.25, **changes: Any) -> dict[str, Any]:
    return {
        "ID": order_id,
        "Created At": "2019-02-11T21:40:27.892+05:30",
        "Discount": None,
        "Product ID": 14,
        "Quantity": 2,
        "Subtotal": 9.67,
        "Tax": 0.58,
        "Total": total,
        "User ID": user_id,
        **changes,
    }


BAD = {
    "bad_json": b'{"ID": 1, "Total": ',
    "not_an_object": b"[1, 2, 3]",
    "bad_id": encode(order("x", 1)),  # type: ignore[arg-type]
    "bad_user_id": encode(order(90_001, None)),  # type: ignore[arg-type]
    "bad_total": encode(order(90_002, 1, total=float("nan"))),
    "negative_quantity": encode(order(90_003, 1, Quantity=-1)),
    "bad_created_at": encode(order(90_004, 1, **{"Created At": "last tuesday"})),
}
INFINITE_TOTAL = encode(order(90_005, 1, total=float("inf")))
MISSING_TOTAL = json.dumps({k: v for k, v in order(90_006, 1).items() if k != "Total"}).encode()


def write_customers(path: Path, customers: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=HEADER, extrasaction="ignore")
        writer.writeheader()
        for c in customers:
            writer.writerow({h: c.get(h, "") for h in HEADER})
    return path


def sales(pipeline: Pipeline) -> dict[tuple[str, str], tuple[Decimal, int]]:
    rows = pipeline.sql("SELECT source, state, total_sum_amount, order_count FROM total_sales_by_source_state")
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def assert_matches_oracle(pipeline: Pipeline, customers: dict[int, tuple[str, str]]) -> None:
    want = expected_sales(pipeline.frames, customers)
    got = sales(pipeline)
    assert set(got) == set(want), (sorted(set(got) ^ set(want))[:5], len(got), len(want))
    for group, (total, count) in want.items():
        assert got[group][1] == count, group
        assert abs(got[group][0] - total) <= Decimal("1e-6"), (group, got[group][0], total)


@pytest.fixture(scope="module")
def orders(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    tmp = tmp_path_factory.mktemp("orders")
    pipeline = Pipeline(spark, tmp, streams=("orders",))
    pipeline.migrate()
    customers = synthetic_customers(60, seed=81)
    loaded = pipeline.run_main("producer", "load-customers", str(write_customers(tmp / "customers.csv", customers)))
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert "loaded 60 customers" in loaded.stdout + loaded.stderr
    pipeline.customers = {c["ID"]: (c["Source"], c["State"]) for c in customers}

    # Sent before any job ever ran: counted all the same (ingest starts at the earliest offset).
    messages = list(OrderFactory(customers=60, seed=81, old_rate=0.2, duplicate_rate=0.1).stream(800, NOW))
    messages += [encode(order(70_001, 3, Discount=float("nan"))), encode(order(70_002, 4, Discount=None))]
    messages += [encode(order(70_003, UNKNOWN_CUSTOMER, total=99.5))]
    messages += [*BAD.values(), INFINITE_TOTAL, MISSING_TOTAL]
    pipeline.send_messages("orders", [(None, m) for m in messages])
    pipeline.frames = messages
    pipeline.ingested = pipeline.ingest()
    pipeline.aggregate()
    return pipeline


def test_sales_match_the_oracle_group_for_group(orders: Pipeline) -> None:
    assert_matches_oracle(orders, orders.customers)
    old = orders.sql("SELECT COUNT(*) FROM order_partials WHERE bucket < %s", NOW - timedelta(days=365))[0][0]
    assert old > 0, "orders years old are kept and counted"


def test_each_bad_order_lands_in_rejects_with_its_reason(orders: Pipeline, cassandra: Session) -> None:
    assert orders.ingested is not None
    assert dict(orders.ingested.rejected) == {**dict.fromkeys(BAD, 1), "bad_total": 3}
    rows = cassandra.execute(f"SELECT reason, payload FROM {orders.name}.rejects")
    by_payload = {bytes(r.payload): r.reason for r in rows}
    assert {p: by_payload[p] for p in BAD.values()} == {p: r for r, p in BAD.items()}
    assert by_payload[INFINITE_TOTAL] == by_payload[MISSING_TOTAL] == "bad_total"


def test_an_unknown_customer_joins_and_a_moved_customer_moves_their_orders(orders: Pipeline, tmp_path: Path) -> None:
    unmatched = orders.aggregate()
    assert unmatched.stream_values[("orders", "unmatched_orders")] == 1

    newcomer = {"ID": UNKNOWN_CUSTOMER, "Source": "Google", "State": "NV", "Name": "Late Comer"}
    loaded = orders.run_main("producer", "load-customers", str(write_customers(tmp_path / "late.csv", [newcomer])))
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    orders.customers[UNKNOWN_CUSTOMER] = ("Google", "NV")
    moved = 3
    source, _ = orders.customers[moved]
    orders.sql(f"UPDATE `{orders.name}_shop`.customers SET state = 'WY' WHERE id = %s", moved)
    orders.customers[moved] = (source, "WY")

    # A restart between runs: a new batch, with a byte-identical re-send of an old order.
    more = [*OrderFactory(customers=60, seed=82, next_id=10_001).stream(100, NOW), orders.frames[0]]
    orders.send_messages("orders", [(None, m) for m in more])
    orders.frames += more
    orders.ingest()
    run = orders.aggregate()
    assert run.stream_values[("orders", "unmatched_orders")] == 0
    assert_matches_oracle(orders, orders.customers)
    assert ("Google", "NV") in sales(orders)
    assert (source, "WY") in sales(orders)


def test_history_keeps_a_row_per_run_and_changed_group(orders: Pipeline) -> None:
    runs = orders.sql("SELECT batch_id, COUNT(*) FROM sales_history GROUP BY batch_id")
    assert len(runs) >= 2
    current = orders.sql(
        "SELECT COUNT(*) FROM total_sales_by_source_state s JOIN sales_history h "
        "ON h.batch_id = s.batch_id AND h.source = s.source AND h.state = s.state "
        "AND h.total_sum_amount = s.total_sum_amount"
    )[0][0]
    assert current == len(sales(orders)), "every current row is the history row of the run that set it"


def order_at(hour: int, order_id: int, owner: int, total: float) -> bytes:
    """An order created at a quarter past `hour` on 2026-11-01 (UTC)."""
    return encode(order(order_id, owner, total=total, **{"Created At": f"2026-11-01T{hour:02d}:15:00+00:00"}))


def placed(pipeline: Pipeline, cassandra: Session) -> list[tuple[int, datetime]]:
    rows = cassandra.execute(f"SELECT order_id, bucket FROM {pipeline.name}.orders_raw")
    return sorted((r.order_id, r.bucket) for r in rows)


def with_customers(spark: Any, tmp_path: Path, count: int) -> tuple[Pipeline, list[dict[str, Any]]]:
    pipeline = Pipeline(spark, tmp_path, streams=("orders",))
    pipeline.migrate()
    customers = synthetic_customers(count, seed=83)
    loaded = pipeline.run_main(
        "producer", "load-customers", str(write_customers(tmp_path / "customers.csv", customers))
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    return pipeline, customers


def test_an_order_re_sent_in_another_hour_counts_once_where_it_now_lies(
    spark: Any, tmp_path: Path, cassandra: Session
) -> None:
    pipeline, customers = with_customers(spark, tmp_path, 5)
    known = {c["ID"]: (c["Source"], c["State"]) for c in customers}
    user, other = customers[0]["ID"], customers[1]["ID"]

    # Each send is its own producer, so each later one has a later Kafka timestamp: the newer version.
    sends = [
        [order_at(10, 80_001, user, 10.25), order_at(8, 80_002, user, 3.0)],
        [order_at(11, 80_003, other, 7.0)],
    ]
    for messages in sends:
        pipeline.send_messages("orders", [(None, m) for m in messages])
    pipeline.ingest()
    pipeline.aggregate()
    # Corrected: 80_001 an hour later with another amount, in a later batch; 80_003 twice, both
    # in one batch, last to another customer.
    sends = [
        [order_at(13, 80_001, user, 12.5)],
        [order_at(9, 80_003, user, 7.5)],
        [order_at(12, 80_003, other, 8.0)],
    ]
    for messages in sends:
        pipeline.send_messages("orders", [(None, m) for m in messages])
    pipeline.ingest()
    pipeline.aggregate()
    pipeline.frames = [
        order_at(10, 80_001, user, 10.25),
        order_at(8, 80_002, user, 3.0),
        order_at(11, 80_003, other, 7.0),
    ]
    pipeline.frames += [m for messages in sends for m in messages]

    want = [
        (80_001, datetime(2026, 11, 1, 13)),
        (80_002, datetime(2026, 11, 1, 8)),
        (80_003, datetime(2026, 11, 1, 12)),
    ]
    assert placed(pipeline, cassandra) == want
    assert_matches_oracle(pipeline, known)
    assert sum(count for _, count in sales(pipeline).values()) == 3

    # Read again from the start (a reset checkpoint): the old versions come back first and are
    # superseded again; nothing moves.
    pipeline.ingest(checkpoint_dir=str(tmp_path / "replay"))
    pipeline.aggregate()
    assert placed(pipeline, cassandra) == want
    assert_matches_oracle(pipeline, known)


def test_orders_an_older_install_wrote_get_their_versions_at_migrate(
    spark: Any, tmp_path: Path, cassandra: Session
) -> None:
    pipeline, customers = with_customers(spark, tmp_path, 2)
    user = customers[0]["ID"]
    pipeline.send_messages("orders", [(None, order_at(10, 80_001, user, 10.25))])
    pipeline.ingest()
    # As an install from before versions left it: raw rows, no versions.
    cassandra.execute(f"TRUNCATE {pipeline.name}.orders_raw_versions")
    pipeline.migrate()
    assert cassandra.execute(f"SELECT COUNT(*) FROM {pipeline.name}.orders_raw_versions").one()[0] == 1

    pipeline.send_messages("orders", [(None, order_at(13, 80_001, user, 12.5))])
    pipeline.ingest()
    pipeline.aggregate()
    assert placed(pipeline, cassandra) == [(80_001, datetime(2026, 11, 1, 13))]
    pipeline.frames = [order_at(10, 80_001, user, 10.25), order_at(13, 80_001, user, 12.5)]
    assert_matches_oracle(pipeline, {c["ID"]: (c["Source"], c["State"]) for c in customers})
