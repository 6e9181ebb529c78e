"""Skipped offsets: a batch's range in the checkpoint against what it delivered."""

from __future__ import annotations

from pathlib import Path

from jobs.offsets import batch_range, parse_offsets, skipped

# Spark's files as written: a version line, batch metadata (offsets/ only), the source's offsets.
OFFSETS_FILE = 'v1\n{"batchWatermarkMs":0,"batchTimestampMs":1,"conf":{}}\n{"t":{"1":12,"0":24}}'
INITIAL_FILE = '\x00v1\n{"t":{"1":0,"0":0}}'


def test_should_read_spark_offset_logs() -> None:
    assert parse_offsets(OFFSETS_FILE) == {"t": {"1": 12, "0": 24}}
    assert parse_offsets(INITIAL_FILE) == {"t": {"1": 0, "0": 0}}


def test_should_find_a_batch_range_from_the_previous_batch_or_the_initial_offsets(tmp_path: Path) -> None:
    (tmp_path / "offsets").mkdir()
    (tmp_path / "sources" / "0").mkdir(parents=True)
    (tmp_path / "sources" / "0" / "0").write_text(INITIAL_FILE)
    (tmp_path / "offsets" / "0").write_text(OFFSETS_FILE)
    (tmp_path / "offsets" / "1").write_text(OFFSETS_FILE.replace("24", "30"))
    assert batch_range(str(tmp_path), 0) == ({"t": {"1": 0, "0": 0}}, {"t": {"1": 12, "0": 24}})
    assert batch_range(str(tmp_path), 1) == ({"t": {"1": 12, "0": 24}}, {"t": {"1": 12, "0": 30}})
    assert batch_range(str(tmp_path), 5) is None


def test_should_count_offsets_not_delivered_per_partition() -> None:
    start = {"t": {"0": 100, "1": 50, "2": -2}}
    end = {"t": {"0": 190, "1": 60, "2": 5, "3": 9}}
    delivered = {("t", 0): 40, ("t", 1): 10, ("t", 2): 1, ("t", 3): 9}
    # 0: 90 covered, 40 delivered; 1: all delivered; 2: no number to start from; 3: new partition.
    assert skipped(start, end, delivered) == {("t", 0): 50}
