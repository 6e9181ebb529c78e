"""What every dashboard panel must show after the observability test's run, computed from what
that test sent with the independent oracles (oracles/), never with the pipeline's code.

One expectation per panel title: `BUSINESS` gives a business panel's rows for a time range,
`PIPELINE` a pipeline panel's newest value per series (keyed by the series' labels besides
`release`). A title missing here fails the test, so a new panel cannot pass unchecked."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any

from oracles import ads as oracle_ads
from oracles import orders as oracle_orders
from oracles import tracking as oracle
from oracles import userlogs as oracle_userlogs

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Between:
    """Equal to any value in [low, high]: a bound where the exact value is the clock's."""

    low: Any
    high: Any

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Between):
            return (self.low, self.high) == (other.low, other.high)
        return bool(self.low <= other <= self.high)  # type: ignore[operator]

    def __hash__(self) -> int:
        return hash((self.low, self.high))


@dataclass(frozen=True)
class Ranked:
    """The rows of a query that orders by column `by` descending with LIMIT `limit`: rows tied
    in that column may come in any order, and either side of the cut."""

    rows: list[Row]
    by: int
    limit: int | None = None

    def check(self, got: list[Row]) -> None:
        ranks = sorted((row[self.by] for row in self.rows), reverse=True)[: self.limit]
        assert [row[self.by] for row in got] == ranks, (got, self.rows)
        strangers = [row for row in got if row not in self.rows]
        assert not strangers, f"rows the oracle does not have: {strangers}; it has {self.rows}"
        assert len(set(got)) == len(got), got


def to_places(value: Decimal, places: int) -> Decimal:
    """MySQL's DECIMAL division: the dividend's scale plus div_precision_increment, half up."""
    return value.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


def utc(text: str) -> datetime:
    """An ISO-8601 time as naive UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment


def bucket(moment: datetime, seconds: int) -> datetime:
    epoch = datetime(1970, 1, 1)
    return epoch + timedelta(seconds=(moment - epoch).total_seconds() // seconds * seconds)


def attributed(beacon: dict[str, Any]) -> bool:
    """A beacon with a job, the ones that reach `events` and count for freshness (DESIGN 4.1)."""
    return bool(oracle._positive(beacon.get("job_id")) or oracle._from_ed(beacon.get("ed"), "jobId"))


def track_kind(beacon: dict[str, Any]) -> str:
    """A valid beacon's kind as the run metrics count it."""
    if not attributed(beacon):
        return "unattributed"
    track = (beacon.get("custom_track") or "").strip().lower()
    if not track:
        return "impression"
    return track if track in oracle.TRACK_TO_COLUMN else "other"


@dataclass
class Sent:
    """What the run was fed, and when its jobs ran."""

    beacons: list[dict[str, Any]]  # tracking, the good ones, re-sends included
    bad_beacons: dict[str, bytes]  # tracking: reject reason -> payload
    ads: list[bytes]
    orders: list[bytes]
    customers: dict[int, tuple[str, str]]
    userlogs: list[tuple[str, bytes]]  # (part, value)
    topics: list[str]  # every topic a stream of the run reads
    producer_rate: float
    # Job ("tidemark_ingest") -> wall-clock seconds of its process's start and end.
    jobs: dict[str, tuple[float, float]] = field(default_factory=dict)

    # --- the oracles' answers -------------------------------------------------------------

    @cached_property
    def events(self) -> dict[oracle.Key, dict[str, Any]]:
        return oracle.expected_events(self.beacons)

    @cached_property
    def windows(self) -> dict[oracle_ads.WindowKey, dict[str, Any]]:
        return oracle_ads.expected_windows(self.ads)

    @cached_property
    def sales(self) -> dict[oracle_orders.Group, tuple[Decimal, int]]:
        return oracle_orders.expected_sales(self.orders, self.customers)

    @cached_property
    def logs(self) -> oracle_userlogs.Expected:
        return oracle_userlogs.expected(self.userlogs)

    # --- each stream's valid records as ingest reads them, re-sends included ----------------

    def ad_records(self) -> list[dict[str, Any]]:
        records = []
        for value in self.ads:
            try:
                record = oracle_ads.decode(value)
            except oracle_ads.Undecodable:
                continue
            if oracle_ads.valid(record):
                records.append(record)
        return records

    def valid_orders(self) -> list[dict[str, Any]]:
        return [o for o in map(json.loads, self.orders) if oracle_orders.valid(o)]

    def log_bodies(self, part: str) -> list[dict[str, Any]]:
        """A userlogs part's rows: a session or auth message is one, an activity message one per element."""
        bodies = [json.loads(value) for p, value in self.userlogs if p == part]
        return [e for body in bodies for e in body] if part == "activity" else bodies

    def event_times(self) -> dict[str, list[datetime]]:
        """Each stream's event times, one per valid row ingest reads (naive UTC)."""
        log_time = {"session": "login_time", "auth": "timestamp", "activity": "timestamp"}
        return {
            "tracking": [oracle.event_time(b["create_time"]).replace(tzinfo=None) for b in self.beacons],
            "ads": [oracle_ads.event_time(r["timestamp"]) for r in self.ad_records()],
            "orders": [utc(o["Created At"]) for o in self.valid_orders()],
            **{
                f"userlogs_{part}": [utc(body[key]) for body in self.log_bodies(part)] for part, key in log_time.items()
            },
        }

    def buckets(self) -> dict[str, int]:
        """Distinct buckets each stream's rows fall in (DESIGN: tracking and userlogs a minute,
        ads 30 s, orders an hour): what ingest marks and aggregate recomputes."""
        seconds = {"tracking": 60, "ads": 30, "orders": 3600}
        return {
            stream: len({bucket(t, seconds.get(stream, 60)) for t in times})
            for stream, times in self.event_times().items()
        }

    def rows_ingested(self) -> dict[str, int]:
        return {stream: len(times) for stream, times in self.event_times().items()}

    def distinct_raw_rows(self) -> dict[str, int]:
        """Rows each raw table holds: one per event identity."""
        return {
            "tracking": len({b["create_time"] for b in self.beacons}),
            "ads": len({tuple(r.values()) for r in self.ad_records()}),
            "orders": len(oracle_orders.orders_of(self.orders)),
            "userlogs_session": len(self.logs.sessions),
            "userlogs_auth": len(self.logs.auth_rows),
            "userlogs_activity": len(self.logs.activity),
        }

    def rows_aggregated(self) -> dict[str, int]:
        """Rows a first aggregate run over an empty database inserts, one chunk per stream
        (the fixture checks that): each rollup's rows; orders also sync every customer into
        customer_dim and keep one total per customer with orders."""
        customers_with_orders = len({int(o["User ID"]) for o in oracle_orders.orders_of(self.orders).values()})
        return {
            "tracking": len(self.events),
            "ads": len(self.windows),
            "orders": len(self.customers) + customers_with_orders + len(self.sales),
            "userlogs_session": len(self.logs.sessions_hourly()),
            "userlogs_auth": len(self.logs.auth_hourly()),
            "userlogs_activity": len(self.logs.activity_hourly()),
        }

    def newest(self) -> dict[str, datetime]:
        """Each stream's newest event time that counts for freshness."""
        newest = {stream: max(times) for stream, times in self.event_times().items()}
        counted = [b for b in self.beacons if attributed(b)]
        newest["tracking"] = max(oracle.event_time(b["create_time"]).replace(tzinfo=None) for b in counted)
        return newest


@dataclass(frozen=True)
class Range:
    """A dashboard's time range (naive UTC, both ends included as $__timeFilter's BETWEEN) and
    the moment its queries ran."""

    start: datetime
    end: datetime
    now: datetime

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment <= self.end

    def events(self, sent: Sent) -> list[tuple[datetime, oracle.Key, dict[str, Any]]]:
        """The tracking rows whose hour is in range, with that hour."""
        rows = [(datetime.combine(key[1], time(key[2])), key, row) for key, row in sent.events.items()]
        return [r for r in rows if self.holds(r[0])]

    def windows(self, sent: Sent) -> dict[oracle_ads.WindowKey, dict[str, Any]]:
        return {key: w for key, w in sent.windows.items() if self.holds(key[1])}


def total(rows: Iterable[dict[str, Any]], column: str) -> Any:
    return sum((row[column] for row in rows), Decimal(0))


def per_hour(sent: Sent, r: Range, *columns: str) -> list[Row]:
    hours: dict[datetime, list[Any]] = {}
    for hour, _, row in r.events(sent):
        sums = hours.setdefault(hour, [0] * len(columns))
        for i, column in enumerate(columns):
            sums[i] += row[column]
    return [(hour, *sums) for hour, sums in sorted(hours.items())]


def ranked_events(sent: Sent, r: Range, dimension: Callable[[oracle.Key, dict[str, Any]], int], limit: int) -> Ranked:
    """Clicks and spend by one dimension of the events, as text."""
    by: dict[str, list[Any]] = {}
    for _, key, row in r.events(sent):
        sums = by.setdefault(str(dimension(key, row)), [0, Decimal(0)])
        sums[0] += row["clicks"]
        sums[1] += row["spend_hour"]
    return Ranked([(name, *sums) for name, sums in by.items()], by=1, limit=limit)


def top_jobs(sent: Sent, r: Range) -> Ranked:
    columns = ("clicks", "conversion", "qualified_application", "disqualified_application", "spend_hour")
    jobs: dict[int, list[Any]] = {}
    for _, key, row in r.events(sent):
        sums = jobs.setdefault(key[0], [0, 0, 0, 0, Decimal(0)])
        for i, column in enumerate(columns):
            sums[i] += row[column]
    companies = {key[0]: row["company_id"] for _, key, row in r.events(sent)}
    return Ranked([(job, companies[job], *sums) for job, sums in jobs.items()], by=2, limit=15)


def rate(sent: Sent, r: Range, numerator: str, places: int) -> list[Row]:
    rows = [row for _, _, row in r.events(sent)]
    clicks = total(rows, "clicks")
    return [(to_places(total(rows, numerator) / clicks, places) if clicks else None,)]


def newest_complete_window(sent: Sent, r: Range) -> Ranked:
    windows = r.windows(sent)
    complete = [start for (_, start), w in windows.items() if w["window_end"] <= r.now]
    newest = max(complete, default=None)
    rows = [
        (ad, start, w["total_clicks"], w["total_views"], w["total_cost"], w["avg_cost_per_view"], w["event_count"])
        for (ad, start), w in windows.items()
        if start == newest
    ]
    return Ranked(rows, by=2, limit=10)


def per_window(sent: Sent, r: Range) -> dict[datetime, tuple[int, int, Decimal]]:
    sums: dict[datetime, tuple[int, int, Decimal]] = {}
    for (_, start), w in sorted(r.windows(sent).items(), key=lambda item: item[0][1]):
        clicks, views, cost = sums.get(start, (0, 0, Decimal(0)))
        sums[start] = (clicks + w["total_clicks"], views + w["total_views"], cost + w["total_cost"])
    return sums


def sales_by(sent: Sent, part: int, limit: int | None) -> Ranked:
    by: dict[str, list[Any]] = {}
    for group, (amount, orders) in sent.sales.items():
        sums = by.setdefault(group[part], [Decimal(0), 0])
        sums[0] += amount
        sums[1] += orders
    return Ranked([(name, *sums) for name, sums in by.items()], by=1, limit=limit)


def logins_per_hour(sent: Sent, r: Range) -> list[Row]:
    hours: dict[datetime, Counter[str]] = {}
    for (hour, outcome, _), events in sent.logs.auth_hourly().items():
        if r.holds(hour):
            hours.setdefault(hour, Counter())[outcome] += events
    return [(hour, c["success"], c["failure"]) for hour, c in sorted(hours.items())]


def failure_reasons(sent: Sent, r: Range) -> Ranked:
    reasons: Counter[str] = Counter()
    for (hour, outcome, detail), events in sent.logs.auth_hourly().items():
        if outcome == "failure" and r.holds(hour):
            reasons[detail] += events
    return Ranked(list(reasons.items()), by=1)


def activity_by_type(sent: Sent, r: Range) -> Ranked:
    types: Counter[str] = Counter()
    for (hour, event_type), events in sent.logs.activity_hourly().items():
        if r.holds(hour):
            types[event_type] += events
    return Ranked(list(types.items()), by=1)


def sales_after_the_run(sent: Sent, r: Range) -> list[Row]:
    """One row for the fixture's one aggregate run, stamped while it ran."""
    started, ended = (
        datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None) for t in sent.jobs["tidemark_aggregate"]
    )
    amounts = sent.sales.values()
    return [(Between(started, ended), sum((a for a, _ in amounts), Decimal(0)), sum(n for _, n in amounts))]


BusinessExpectation = Callable[[Sent, Range], "list[Row] | Ranked"]

BUSINESS: dict[str, BusinessExpectation] = {
    "Clicks": lambda s, r: [(total((row for _, _, row in r.events(s)), "clicks"),)],
    "Spend": lambda s, r: [(total((row for _, _, row in r.events(s)), "spend_hour"),)],
    "Conversion rate": lambda s, r: rate(s, r, "conversion", places=4),
    "Spend per click": lambda s, r: rate(s, r, "spend_hour", places=6 + 4),
    "Clicks per hour": lambda s, r: per_hour(s, r, "clicks"),
    "Spend per hour": lambda s, r: per_hour(s, r, "spend_hour"),
    "Conversions and applications per hour": lambda s, r: per_hour(
        s, r, "conversion", "qualified_application", "disqualified_application"
    ),
    "Impressions per hour": lambda s, r: per_hour(s, r, "impressions"),
    "Top jobs": top_jobs,
    "By publisher": lambda s, r: ranked_events(s, r, lambda key, _: key[3], limit=10),
    "By campaign": lambda s, r: ranked_events(s, r, lambda key, _: key[4], limit=10),
    "By company": lambda s, r: ranked_events(s, r, lambda _, row: row["company_id"], limit=10),
    "Top ads in the newest complete window": newest_complete_window,
    "Ad cost per view over time": lambda s, r: [
        (start, to_places(cost / views, 6 + 4) if views else None)
        for start, (_, views, cost) in per_window(s, r).items()
    ],
    "Ad clicks and views per window": lambda s, r: [
        (start, clicks, views) for start, (clicks, views, _) in per_window(s, r).items()
    ],
    "Orders counted": lambda s, r: [(sum(n for _, n in s.sales.values()),)],
    "Sales": lambda s, r: [(sum((a for a, _ in s.sales.values()), Decimal(0)),)],
    "Sales by source": lambda s, r: sales_by(s, part=0, limit=None),
    "Sales by state": lambda s, r: sales_by(s, part=1, limit=15),
    "Logins by outcome per hour": logins_per_hour,
    "Login failure reasons": failure_reasons,
    "Sessions per hour": lambda s, r: [
        (hour, sessions) for hour, (sessions, _) in sorted(s.logs.sessions_hourly().items()) if r.holds(hour)
    ],
    "Activity by type": activity_by_type,
    "Sales after each run": sales_after_the_run,
}


# --- pipeline panels: the newest value of each of the run's series, by its labels ---------------

Series = dict[tuple[str, ...], Any]
JOBS = ("tidemark_ingest", "tidemark_aggregate")


def per_job(ingest: int, aggregate: int) -> Series:
    return {("tidemark_ingest",): ingest, ("tidemark_aggregate",): aggregate}


def since_last_success(sent: Sent, now: float) -> Series:
    """The run's success is stamped while its process ran; Prometheus' time() is the query's."""
    slack = 5
    return {(job,): Between(now - ended - slack, now - started + slack) for job, (started, ended) in sent.jobs.items()}


def freshness(sent: Sent, now: float) -> Series:
    """Now minus the newest event time, as of the last rule evaluation (every 2 s)."""
    slack = 10
    ages = {stream: now - moment.replace(tzinfo=timezone.utc).timestamp() for stream, moment in sent.newest().items()}
    return {(stream,): Between(age - slack, age + slack) for stream, age in ages.items()}


def rows_read(sent: Sent, _now: float) -> Series:
    """Ingest reads every record sent, rejects included; aggregate each distinct raw row."""
    ingested = sum(sent.rows_ingested().values()) + len(sent.bad_beacons)
    return per_job(ingested, sum(sent.distinct_raw_rows().values()))


PipelineExpectation = Callable[[Sent, float], Series]

PIPELINE: dict[str, PipelineExpectation] = {
    "Produce rate (events/s)": lambda s, now: {("tracking",): Between(0.5 * s.producer_rate, 1.5 * s.producer_rate)},
    # Kafka acknowledges locally within milliseconds; the bound says the histogram is filled.
    "Send latency p95": lambda s, now: {(): Between(0.0001, 2.5)},
    "Ingest lag (records in Kafka not yet ingested)": lambda s, now: {(topic,): 0 for topic in s.topics},
    "Freshness vs objective": freshness,
    "Job duration (slowest stream)": lambda s, now: {
        (job,): Between(0.01, ended - started) for job, (started, ended) in s.jobs.items()
    },
    "Since last success (stalest stream)": since_last_success,
    "Last run succeeded (every stream)": lambda s, now: dict.fromkeys(((job,) for job in JOBS), 1),
    "Rows read per run": rows_read,
    "Rows written per run": lambda s, now: per_job(sum(s.rows_ingested().values()), sum(s.rows_aggregated().values())),
    "Rejects by reason": lambda s, now: {("tracking", reason): 1 for reason in s.bad_beacons},
    "Buckets recomputed per run": lambda s, now: per_job(sum(s.buckets().values()), sum(s.buckets().values())),
    "Events by kind (last ingest)": lambda s, now: dict(Counter((track_kind(b),) for b in s.beacons)),
}
