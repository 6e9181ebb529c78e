"""The orders stream's pure parse: one pandas-written JSON order to one raw row or a reject."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from jobs.spec import Reject
from jobs.streams.orders import parse
from producer.orders import OrderFactory, encode

ORDER = {
    "ID": 1,
    "Created At": "2019-02-11T21:40:27.892+05:30",
    "Discount": None,
    "Product ID": 14,
    "Quantity": 2,
    "Subtotal": 37.65,
    "Tax": 2.07,
    "Total": 39.72,
    "User ID": 1,
}


def row(payload: bytes) -> dict[str, Any]:
    got = parse(payload)
    assert isinstance(got, list), got
    return got[0]


def test_should_read_a_pandas_row_with_its_offset_in_utc() -> None:
    got = row(encode(ORDER))
    assert got["event_time"] == datetime(2019, 2, 11, 16, 10, 27, 892000)
    assert (got["order_id"], got["user_id"], got["total"], got["quantity"]) == (1, 1, 39.72, 2)


@pytest.mark.parametrize("discount", [float("nan"), None])
def test_should_read_a_nan_or_null_discount_as_no_discount(discount: float | None) -> None:
    payload = encode({**ORDER, "Discount": discount})
    assert (b"NaN" in payload) == (discount is not None), "pandas writes a bare NaN token"
    assert row(payload)["discount"] is None


def test_should_take_an_integral_float_id_as_an_integer() -> None:
    assert row(encode({**ORDER, "User ID": 7.0}))["user_id"] == 7


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "bad_json"),
        (b'"an order"', "not_an_object"),
        (encode({k: v for k, v in ORDER.items() if k != "ID"}), "bad_id"),
        (encode({**ORDER, "ID": "1"}), "bad_id"),
        (encode({**ORDER, "ID": 1.5}), "bad_id"),
        (encode({**ORDER, "User ID": None}), "bad_user_id"),
        (encode({k: v for k, v in ORDER.items() if k != "Total"}), "bad_total"),
        (encode({**ORDER, "Total": "39.72"}), "bad_total"),
        (encode({**ORDER, "Total": float("nan")}), "bad_total"),
        (encode({**ORDER, "Total": float("inf")}), "bad_total"),
        (encode({**ORDER, "Quantity": -1}), "negative_quantity"),
        (encode({**ORDER, "Created At": "yesterday"}), "bad_created_at"),
        (encode({**ORDER, "Tax": "n/a"}), "invalid_type"),
    ],
)
def test_should_reject_each_bad_order_with_its_reason(payload: bytes, reason: str) -> None:
    got = parse(payload)
    assert isinstance(got, Reject)
    assert got.reason == reason


def test_should_generate_orders_the_parse_accepts() -> None:
    sent = list(OrderFactory(seed=3, old_rate=0.5).stream(300, datetime(2026, 11, 22, 10, 0)))
    assert all(isinstance(parse(p), list) for p in sent)
    assert any(json.loads(p)["Created At"].endswith("+05:30") for p in sent)
    assert len(set(sent)) < len(sent), "some are re-sent byte-identical"


def test_should_replay_an_orders_csv_as_pandas_would_send_it(tmp_path: Any) -> None:
    from pathlib import Path

    from producer.orders import orders_from_csv

    export = Path(tmp_path) / "orders.csv"
    export.write_text(
        "ID,User ID,Product ID,Subtotal,Tax,Total,Discount,Quantity,Created At\n"
        "1,1,14,37.65,2.07,39.72,,2,2019-02-11T21:40:27.892Z\n"
        "2,1,123,110.92,6.1,117.02,5.5,3,2018-05-15T08:04:26.561-07:00\n"
    )
    sent = [encode(order) for order in orders_from_csv(export)]
    assert b'"Discount": NaN' in sent[0], "an empty float cell is NaN, as pandas writes it"
    rows = [row(payload) for payload in sent]
    assert [(r["order_id"], r["total"], r["discount"]) for r in rows] == [(1, 39.72, None), (2, 117.02, 5.5)]
    assert rows[1]["event_time"] == datetime(2018, 5, 15, 15, 4, 26, 561000)
