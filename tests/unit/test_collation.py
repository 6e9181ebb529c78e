"""The jobs' database compares text byte for byte and without padding, on either server."""

import pytest

from jobs.schema import binary_collation


@pytest.mark.parametrize(
    ("version", "collation"),
    [
        ("8.4.3", "utf8mb4_0900_bin"),  # the chart's mysql:8.4
        ("8.0.40-0ubuntu0.22.04.1", "utf8mb4_0900_bin"),
        ("10.11.6-MariaDB-0+deb12u1", "utf8mb4_nopad_bin"),  # the local stack's
        ("11.4.2-MariaDB", "utf8mb4_nopad_bin"),
    ],
)
def test_should_pick_the_servers_binary_no_pad_collation(version: str, collation: str) -> None:
    assert binary_collation(version) == collation
