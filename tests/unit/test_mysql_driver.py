"""The MySQL driver's C extension loads: the pure-Python protocol costs the jobs' MySQL
passes (partials, marks, reroll) CPU on a driver that shares its cores with Spark."""

from __future__ import annotations

import mysql.connector


def test_the_c_extension_loads() -> None:
    # 26.x links OpenSSL 3.2, newer than Debian 12's and Ubuntu 22.04's 3.0: it fell back to pure Python.
    import _mysql_connector  # noqa: F401  (raises ImportError naming the missing library)

    assert mysql.connector.HAVE_CEXT
