"""Kafka offsets a micro-batch covered but never delivered: records Kafka deleted (retention,
or an operator's delete-records) before ingest read them. Spark's Kafka source skips them so
the stream keeps flowing (failOnDataLoss=false); this module says how many, per partition.

A batch's range is in its query's checkpoint: `offsets/<id>` holds where batch <id> ends and
the previous batch's file where it starts (for the first batch, `sources/0/0`: the initial
offsets). Every offset in that range is a record delivered to the batch or one skipped
(a transactional producer's commit markers take offsets too and would count as skipped;
tidemark's producers are not transactional).
"""

from __future__ import annotations

import json
from pathlib import Path

# {topic: {partition (text, as Spark writes it): offset}}
Offsets = dict[str, dict[str, int]]


def parse_offsets(text: str) -> Offsets:
    """The Kafka source's offsets from a checkpoint log file: a version line, for `offsets/`
    a batch-metadata line, then the one source's offsets as JSON (ingest reads one source)."""
    lines = [line for line in text.replace("\x00", "").splitlines() if line.startswith("{")]
    found: Offsets = json.loads(lines[-1])
    return found


def batch_range(checkpoint: str, batch_id: int) -> tuple[Offsets, Offsets] | None:
    """(start, end) offsets of a batch, or None when its checkpoint lacks them."""
    root = Path(checkpoint)
    start_file = root / "offsets" / str(batch_id - 1) if batch_id > 0 else root / "sources" / "0" / "0"
    end_file = root / "offsets" / str(batch_id)
    try:
        return parse_offsets(start_file.read_text()), parse_offsets(end_file.read_text())
    except (OSError, ValueError, IndexError):
        return None


def skipped(start: Offsets, end: Offsets, delivered: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
    """Offsets in [start, end) of each partition that were not delivered. A partition the
    start does not know (added to the topic since) is not counted: its start is not known."""
    gaps = {}
    for topic, partitions in end.items():
        for partition, last in partitions.items():
            first = start.get(topic, {}).get(partition)
            if first is None or first < 0 or last < 0:
                continue  # -1/-2 stand for latest/earliest: no number to compare
            missing = last - first - delivered.get((topic, int(partition)), 0)
            if missing > 0:
                gaps[topic, int(partition)] = missing
    return gaps
