"""MariaDB (standing in for MySQL): a row-based binlog for Debezium, and one account per
component as on the chart."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from local import tls
from local.stack_base import (
    APP_PASSWORD,
    APP_USER,
    DEBEZIUM_PASSWORD,
    DEBEZIUM_USER,
    GRAFANA_PASSWORD,
    GRAFANA_USER,
    HOST,
    OWNER_PASSWORD,
    OWNER_USER,
    PORTS,
    PRODUCER_PASSWORD,
    PRODUCER_USER,
    STACK,
    StackError,
)
from wire.store_tls import mysql_options


def mariadb_socket() -> Path:
    return STACK / "run" / "mariadb.sock"


def prepare_mariadb() -> list[str]:
    tls.ensure()
    data = STACK / "data" / "mariadb"
    if not (data / "mysql").exists():
        data.mkdir(parents=True, exist_ok=True)
        init = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={data}",
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
        )
        if init.returncode != 0:
            raise StackError(f"mariadb-install-db failed:\n{init.stdout}{init.stderr}")
    return [
        "mariadbd",
        "--no-defaults",
        f"--datadir={data}",
        "--user=root",
        f"--port={PORTS['mariadb']}",
        f"--bind-address={HOST}",
        f"--socket={mariadb_socket()}",
        f"--pid-file={STACK / 'run' / 'mariadbd.pid'}",
        # What Debezium needs: a row-based binlog with full before/after images, GTIDs on.
        "--log-bin=binlog",
        "--binlog-format=ROW",
        "--binlog-row-image=FULL",
        "--server-id=1",
        "--gtid-strict-mode=ON",
        "--expire-logs-days=1",
        "--innodb-buffer-pool-size=128M",
        "--performance-schema=OFF",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        # TLS only over TCP, as the chart's MySQL: every client verifies this certificate
        # against the stack's CA (the socket, root's way in, is secure already).
        f"--ssl-ca={tls.CA}",
        f"--ssl-cert={tls.SERVER_CERT}",
        f"--ssl-key={tls.SERVER_KEY}",
        "--require-secure-transport=ON",
    ]


def mariadb_connect(user: str, password: str, database: str | None = None, **options: Any) -> Any:
    """A connection over TCP, as the jobs make theirs: TLS, verifying the stack's CA."""
    import mysql.connector

    return mysql.connector.connect(
        host=HOST,
        port=PORTS["mariadb"],
        user=user,
        password=password,
        database=database,
        **mysql_options(str(tls.CA)),
        **options,
    )


def mariadb_ready() -> bool:
    return (
        mariadb_socket().exists()
        and subprocess.run(
            ["mariadb-admin", f"--socket={mariadb_socket()}", "--user=root", "ping"],
            capture_output=True,
        ).returncode
        == 0
    )


def mariadb_sql(sql: str) -> str:
    done = subprocess.run(
        ["mariadb", f"--socket={mariadb_socket()}", "--user=root", "--batch", "--skip-column-names"],
        input=sql,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise StackError(f"MariaDB refused:\n{sql}\n{done.stderr}")
    return done.stdout


def users() -> None:
    # Tests, benches and the demo name their databases after their run (<run>, <run>_recruit,
    # <run>_shop), so grants here cover every database where the chart's name three: the jobs
    # may change rows but run no DDL, the producers touch only operational databases.
    mariadb_sql(f"""
        CREATE USER IF NOT EXISTS '{APP_USER}'@'%' IDENTIFIED BY '{APP_PASSWORD}';
        REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{APP_USER}'@'%';
        GRANT SELECT, INSERT, UPDATE, DELETE ON *.* TO '{APP_USER}'@'%';
        CREATE USER IF NOT EXISTS '{PRODUCER_USER}'@'%' IDENTIFIED BY '{PRODUCER_PASSWORD}';
        REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{PRODUCER_USER}'@'%';
        GRANT SELECT, INSERT, UPDATE, DELETE ON `%recruit`.* TO '{PRODUCER_USER}'@'%';
        GRANT SELECT, INSERT, UPDATE, DELETE ON `%shop`.* TO '{PRODUCER_USER}'@'%';
        CREATE USER IF NOT EXISTS '{OWNER_USER}'@'%' IDENTIFIED BY '{OWNER_PASSWORD}';
        GRANT ALL PRIVILEGES ON *.* TO '{OWNER_USER}'@'%';
        CREATE USER IF NOT EXISTS '{DEBEZIUM_USER}'@'%' IDENTIFIED BY '{DEBEZIUM_PASSWORD}';
        -- The chart's grants, no more: the binlog and the server's catalog everywhere, rows of
        -- the recruit databases only (an older stack's user could SELECT every table and had
        -- LOCK TABLES; MariaDB reads REPLICATION CLIENT as BINLOG MONITOR, which stays).
        REVOKE SELECT, LOCK TABLES ON *.* FROM '{DEBEZIUM_USER}'@'%';
        GRANT RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{DEBEZIUM_USER}'@'%';
        GRANT SELECT ON `%recruit`.* TO '{DEBEZIUM_USER}'@'%';
        CREATE USER IF NOT EXISTS '{GRAFANA_USER}'@'%' IDENTIFIED BY '{GRAFANA_PASSWORD}';
        GRANT SELECT ON *.* TO '{GRAFANA_USER}'@'%';
        FLUSH PRIVILEGES;
    """)
