"""Synthetic tracking beacons with the distributions of a real recruitment ad platform:
skewed job popularity, the click/conversion/application mix, page views, null bids,
job ids only inside `ed`, unattributed and other-type beacons, late and re-sent events.
Pure: the same seed and clock give the same beacons."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from typing import Any

import orjson

from producer.catalog import Catalog

UUID_EPOCH = datetime(1582, 10, 15, tzinfo=timezone.utc)
OTHER_TRACKS = ("alive", "redirect", "interview_scheduled")
# (custom_track, weight): page views dominate, clicks are common, applications rare.
TRACKS = ("", "click", "conversion", "qualified", "unqualified")
TRACK_WEIGHTS = (52, 30, 6, 5, 4)
DEVICES = ("desktop", "mobile", "tablet")
SOURCES = ("google", "facebook", "linkedin", "newsletter", "direct")


def timeuuid_at(moment: datetime, rng: random.Random) -> str:
    """A version-1 UUID whose timestamp is `moment` (100-ns precision)."""
    ticks = (moment - UUID_EPOCH) // timedelta(microseconds=1) * 10 + rng.randrange(10)
    clock_seq = rng.getrandbits(14)
    node = rng.getrandbits(48) | 0x010000000000  # multicast bit: not a real MAC
    # uuid.UUID(fields=...) spelled out: the text is the same, in a third of the time.
    return (
        f"{ticks & 0xFFFFFFFF:08x}-{(ticks >> 32) & 0xFFFF:04x}-{((ticks >> 48) & 0x0FFF) | 0x1000:04x}-"
        f"{0x80 | (clock_seq >> 8):02x}{clock_seq & 0xFF:02x}-{node:012x}"
    )


@dataclass(frozen=True)
class Mix:
    late_rate: float = 0.03
    late_max_hours: float = 6.0
    duplicate_rate: float = 0.02
    null_bid_rate: float = 0.1
    ed_only_rate: float = 0.05
    unattributed_rate: float = 0.02
    other_track_rate: float = 0.03


class BeaconFactory:
    def __init__(self, catalog: Catalog, mix: Mix, seed: int) -> None:
        self.catalog = catalog
        self.mix = mix
        self.rng = random.Random(seed)
        # Zipf-like popularity: a few jobs take most of the traffic.
        # Cumulative, as random.choices would compute them from the weights on every call.
        self.job_weights = list(accumulate(1 / (rank**1.1) for rank in range(1, len(catalog.jobs) + 1)))
        self.publisher_weights = list(accumulate(1 / rank for rank in range(1, len(catalog.publishers) + 1)))
        self.track_weights = list(accumulate(TRACK_WEIGHTS))
        self._second: tuple[datetime, str] | None = None
        self.sent: list[dict[str, Any]] = []

    def _track(self) -> str:
        if self.rng.random() < self.mix.other_track_rate:
            return self.rng.choice(OTHER_TRACKS)
        return self.rng.choices(TRACKS, cum_weights=self.track_weights)[0]

    def beacon(self, now: datetime) -> dict[str, Any]:
        rng, mix = self.rng, self.mix
        moment = now
        if rng.random() < mix.late_rate:
            moment = now - timedelta(hours=rng.uniform(1, mix.late_max_hours))
        job = rng.choices(self.catalog.jobs, cum_weights=self.job_weights)[0]
        publisher = rng.choices(self.catalog.publishers, cum_weights=self.publisher_weights)[0][0]
        track = self._track()
        bid: int | None = None
        if track == "click" and rng.random() >= mix.null_bid_rate:
            bid = rng.randrange(0, 6)
        elif track == "" and rng.random() < 0.2:
            bid = rng.randrange(1, 6)  # a bid on a page view: must not count as spend
        job_id: int | None = job.id
        publisher_id: int | None = publisher
        ed: dict[str, Any] = {"device": rng.choice(DEVICES)}
        placement = rng.random()
        if placement < mix.ed_only_rate:
            job_id, publisher_id = None, None
            ed.update(jobId=job.id, publisherId=publisher)
        elif placement < mix.ed_only_rate + mix.unattributed_rate:
            job_id = None
        create_time = timeuuid_at(moment, rng)
        return {
            "create_time": create_time,
            "bid": bid,
            "campaign_id": job.campaign_id,
            "group_id": job.group_id,
            "job_id": job_id,
            "publisher_id": publisher_id,
            "custom_track": track,
            "ts": self._ts(moment),
            "tz": 0,
            "bn": "Chrome 131",
            "cd": 24,
            "de": "UTF-8",
            "dl": f"https://jobs.example.com/job/{job.id}",
            "dt": job.title,
            "ed": orjson.dumps(ed).decode(),
            "ev": 2,
            "id": create_time.replace("-", "")[:16],
            "md": "true",
            "rl": "https://www.example.com/",
            "sr": "1920x1080",
            "ua": "Mozilla/5.0 (X11; Linux x86_64)",
            "uid": f"u{rng.randrange(1, 50_000)}",
            "utm_campaign": f"c{job.campaign_id}",
            "utm_content": "",
            "utm_medium": "cpc",
            "utm_source": rng.choice(SOURCES),
            "utm_term": "",
            "v": 1,
            "vp": "1280x720",
        }

    def _ts(self, moment: datetime) -> str:
        """The beacon's `ts` text; formatted once per second of event time."""
        second = moment.replace(microsecond=0)
        if self._second is None or self._second[0] != second:
            self._second = (second, second.strftime("%Y-%m-%d %H:%M:%S"))
        return self._second[1]

    def next(self, now: datetime) -> dict[str, Any]:
        """A new beacon, or now and then an exact re-send of one sent before."""
        if self.sent and self.rng.random() < self.mix.duplicate_rate:
            return self.rng.choice(self.sent)
        beacon = self.beacon(now)
        # Keep a bounded window of candidates for re-sends.
        if len(self.sent) < 10_000:
            self.sent.append(beacon)
        else:
            self.sent[self.rng.randrange(len(self.sent))] = beacon
        return beacon

    def stream(self, count: int, now: datetime, spread: timedelta = timedelta(0)) -> Iterator[dict[str, Any]]:
        """`count` beacons whose event times step evenly across `spread` ending at `now`."""
        for i in range(count):
            yield self.next(now - spread + spread * (i / max(count - 1, 1)))
