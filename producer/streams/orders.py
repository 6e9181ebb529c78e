"""The orders producer: JSON orders as pandas writes them, or an orders CSV replayed; upserts
TIDEMARK_PRODUCER_CUSTOMERS synthetic customers into shop.customers first, and moves a
customer to another state now and then when asked."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from producer import orders, recruit
from producer.settings import ProducerSettings
from producer.stream import Message, Mutation, StreamProducer, events_seed

log = logging.getLogger("tidemark.producer")


def shop_connection(settings: ProducerSettings) -> Any:
    return recruit.connect(settings, database=settings.shop_database)


def messages(settings: ProducerSettings) -> Iterator[Message]:
    # Order IDs go on from the start's clock, not from 1: a restarted producer (a rolled Pod)
    # must not send earlier IDs again with other contents, as a shop never would.
    factory = orders.OrderFactory(
        customers=max(settings.producer_customers, 1), seed=events_seed(settings), next_id=time.time_ns() // 1000
    )
    while True:
        yield None, factory.next(datetime.now(timezone.utc)), ""


def seed_customers(settings: ProducerSettings) -> None:
    if not settings.producer_customers:
        return
    conn = shop_connection(settings)
    customers = orders.synthetic_customers(settings.producer_customers, settings.producer_seed)
    log.info("upserted %d synthetic customers", orders.upsert_customers(conn, customers))
    conn.close()


def move_customers(settings: ProducerSettings) -> Mutation | None:
    if not settings.producer_move_customer_every_seconds:
        return None
    shop = shop_connection(settings)

    def move_customer(rng: random.Random) -> None:
        customer_id, state = orders.move_customer(shop, rng)
        log.info("moved customer %d to %s", customer_id, state)

    return move_customer, settings.producer_move_customer_every_seconds


def replay(_settings: ProducerSettings, path: Path) -> Iterator[Message]:
    return ((None, orders.encode(row), "") for row in orders.orders_from_csv(path))


PRODUCER = StreamProducer(
    about=__doc__ or "",
    noun="orders",
    topics=lambda settings: {"": settings.topics["orders"]},
    messages=messages,
    prepare=seed_customers,
    mutation=move_customers,
    replay=replay,
)
