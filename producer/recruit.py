"""The operational recruit tables: seeded from the synthetic catalog (or user CSVs with
the tables' column names as header) and, when asked, a job's company changed now and then
so the CDC path has real work."""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import mysql.connector

from producer.catalog import Catalog
from producer.settings import ProducerSettings
from wire.store_tls import mysql_options

TABLES = {
    "company": ("id", "name"),
    "campaign": ("id", "company_id", "campaign_name", "budget_total"),
    "group": ("id", "campaign_id", "company_id", "name", "budget_group"),
    "job": ("id", "company_id", "campaign_id", "group_id", "title", "work_location"),
    "master_publisher": ("id", "publisher_name", "email"),
}


def connect(settings: ProducerSettings, database: str | None = None) -> Any:
    """A connection to the recruit database, or to `database` (e.g. the shop's)."""
    return mysql.connector.connect(
        host=settings.mysql_host,
        port=settings.mysql_port,
        user=settings.mysql_user,
        password=settings.mysql_password.get_secret_value(),
        database=database or settings.recruit_database,
        autocommit=True,
        **mysql_options(settings.mysql_ca_file),
    )


def catalog_rows(catalog: Catalog) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "company": catalog.companies,
        "campaign": catalog.campaigns,
        "group": [(g, camp, comp, name, budget) for g, camp, comp, name, budget in catalog.groups],
        "job": [(j.id, j.company_id, j.campaign_id, j.group_id, j.title, j.work_location) for j in catalog.jobs],
        "master_publisher": catalog.publishers,
    }


def csv_rows(directory: Path) -> dict[str, list[tuple[Any, ...]]]:
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for table, columns in TABLES.items():
        path = directory / f"{table}.csv"
        if path.exists():
            with path.open(newline="", encoding="utf-8") as f:
                rows[table] = [tuple(r.get(c) or None for c in columns) for r in csv.DictReader(f)]
    return rows


def seed(conn: Any, rows: dict[str, list[tuple[Any, ...]]]) -> dict[str, int]:
    """Upserts the rows; running it again changes nothing."""
    counts = {}
    cursor = conn.cursor()
    for table, data in rows.items():
        columns = TABLES[table]
        updates = ", ".join(f"`{c}` = VALUES(`{c}`)" for c in columns[1:])
        cursor.executemany(
            f"INSERT INTO `{table}` ({', '.join(f'`{c}`' for c in columns)}) "
            f"VALUES ({', '.join(['%s'] * len(columns))}) ON DUPLICATE KEY UPDATE {updates}",
            data,
        )
        counts[table] = len(data)
    return counts


def move_job(conn: Any, rng: random.Random) -> tuple[int, int]:
    """Gives a random job to another company, as a re-organisation would; returns (job, company)."""
    cursor = conn.cursor()
    cursor.execute("SELECT id, company_id FROM job ORDER BY RAND(%s) LIMIT 1", (rng.randrange(1 << 30),))
    job_id, company_id = cursor.fetchone()
    cursor.execute(
        "SELECT id FROM company WHERE id <> %s ORDER BY RAND(%s) LIMIT 1", (company_id, rng.randrange(1 << 30))
    )
    (new_company,) = cursor.fetchone()
    cursor.execute("UPDATE job SET company_id = %s WHERE id = %s", (new_company, job_id))
    return job_id, new_company
