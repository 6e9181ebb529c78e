"""MariaDB and Cassandra speak TLS only to TCP clients, as the chart's stores do with a CA: a
client in clear, or one that trusts another CA, is refused; the stack's CA is let in."""

from __future__ import annotations

import ssl
from pathlib import Path

import mysql.connector
import pytest
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable

from local import stack, tls
from wire.store_tls import cassandra_ssl_context, mysql_options


def mariadb(**tls_options: object) -> None:
    conn = mysql.connector.connect(
        host=stack.HOST,
        port=stack.PORTS["mariadb"],
        user=stack.GRAFANA_USER,
        password=stack.GRAFANA_PASSWORD,
        connection_timeout=10,
        **tls_options,
    )
    cursor = conn.cursor()
    cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
    (_, version) = cursor.fetchone()
    conn.close()
    assert version.startswith("TLSv1."), version


def test_should_refuse_a_mysql_client_in_clear_or_trusting_another_ca(other_ca: Path) -> None:
    # MariaDB 10.11 answers a login in clear "access denied", as if the password were wrong; the
    # same login over TLS gets in below.
    with pytest.raises(mysql.connector.Error, match=r"(?i)secure transport|access denied"):
        mariadb(ssl_disabled=True)
    with pytest.raises(mysql.connector.Error, match=r"(?i)certificate verify failed"):
        mariadb(**mysql_options(str(other_ca)))
    mariadb(**mysql_options(str(tls.CA)))  # over TLS, verified: the same login gets in


def cassandra(context: ssl.SSLContext | None) -> None:
    cluster = Cluster(
        [stack.HOST],
        port=stack.PORTS["cassandra"],
        protocol_version=5,
        auth_provider=PlainTextAuthProvider(stack.CASSANDRA_ADMIN, stack.CASSANDRA_ADMIN_PASSWORD),
        ssl_context=context,
        connect_timeout=10,
    )
    try:
        assert cluster.connect().execute("SELECT release_version FROM system.local").one()
    finally:
        cluster.shutdown()


def test_should_refuse_a_cassandra_client_in_clear_or_trusting_another_ca(other_ca: Path) -> None:
    for context in (None, cassandra_ssl_context(str(other_ca))):
        with pytest.raises(NoHostAvailable):
            cassandra(context)
    cassandra(cassandra_ssl_context(str(tls.CA)))
