"""The bench's count of the continuous driver's Spark jobs, from Spark's REST answers."""

from bench.spark_jobs import summary, when


def job(job_id: int, submitted: str, completed: str, description: str | None, name: str) -> dict[str, object]:
    found: dict[str, object] = {"jobId": job_id, "name": name, "submissionTime": submitted, "status": "SUCCEEDED"}
    if completed:
        found["completionTime"] = completed
    if description is not None:
        found["description"] = description
    return found


def test_should_read_sparks_time_stamps() -> None:
    assert when("2026-12-06T23:10:00.250GMT") - when("2026-12-06T23:09:59.000GMT") == 1.25


def test_should_count_the_windows_jobs_per_query_and_second() -> None:
    start, end = when("2026-12-06T23:10:00.000GMT"), when("2026-12-06T23:10:10.000GMT")
    jobs = [
        job(1, "2026-12-06T23:09:58.000GMT", "2026-12-06T23:09:59.500GMT", "ingest-ads\nid = 1", "a"),  # before
        job(2, "2026-12-06T23:10:01.000GMT", "2026-12-06T23:10:01.500GMT", "ingest-ads\nid = 1\nbatch = 7", "a"),
        job(3, "2026-12-06T23:10:02.000GMT", "2026-12-06T23:10:04.000GMT", "ingest-tracking\nid = 2", "b"),
        job(4, "2026-12-06T23:10:03.000GMT", "2026-12-06T23:10:03.250GMT", "ingest-ads\nbatch = 8", "b"),
        job(5, "2026-12-06T23:10:05.000GMT", "2026-12-06T23:10:05.100GMT", None, "c"),
        job(6, "2026-12-06T23:10:09.000GMT", "", "ingest-ads", "c"),  # still running
        job(7, "2026-12-06T23:10:09.000GMT", "2026-12-06T23:10:11.000GMT", "ingest-ads", "c"),  # after
    ]
    got = summary(jobs, start, end)
    assert got["jobs_per_second"] == 0.4
    assert got["by_query"] == {
        "(none)": {"jobs": 1, "job_seconds": 0.1},
        "ingest-ads": {"jobs": 2, "job_seconds": 0.8},
        "ingest-tracking": {"jobs": 1, "job_seconds": 2.0},
    }
    assert got["by_callsite"] == {"b": 2, "a": 1, "c": 1}
