"""A synthetic recruitment platform: companies, campaigns, groups, jobs and publishers,
the same for the same seed. Pure data; `producer.recruit` writes it to MySQL."""

from __future__ import annotations

import random
from dataclasses import dataclass

TITLES = (
    "Data Engineer",
    "Backend Developer",
    "Nurse",
    "Truck Driver",
    "Accountant",
    "Sales Associate",
    "Warehouse Operator",
    "Product Manager",
    "Electrician",
    "Customer Support Agent",
)
CITIES = ("Hanoi", "Ho Chi Minh City", "Da Nang", "Berlin", "Austin", "Toronto", "Lyon", "Osaka")


@dataclass(frozen=True)
class Job:
    id: int
    company_id: int
    campaign_id: int
    group_id: int
    title: str
    work_location: str


@dataclass(frozen=True)
class Catalog:
    companies: list[tuple[int, str]]
    campaigns: list[tuple[int, int, str, float]]
    groups: list[tuple[int, int, int, str, float]]
    jobs: list[Job]
    publishers: list[tuple[int, str, str]]


def synthetic_catalog(jobs: int, publishers: int, seed: int) -> Catalog:
    rng = random.Random(seed)
    n_companies = max(1, jobs // 10)
    companies = [(c, f"Company {c:04d}") for c in range(1, n_companies + 1)]
    campaigns = [
        (k, (k - 1) % n_companies + 1, f"Campaign {k}", float(rng.randrange(1000, 50000)))
        for k in range(1, n_companies * 2 + 1)
    ]
    groups = [
        (g, (g - 1) % len(campaigns) + 1, 0, f"Group {g}", float(rng.randrange(100, 5000)))
        for g in range(1, len(campaigns) * 2 + 1)
    ]
    groups = [(g, camp, campaigns[camp - 1][1], name, budget) for g, camp, _, name, budget in groups]
    job_rows = []
    for j in range(1, jobs + 1):
        group = groups[rng.randrange(len(groups))]
        job_rows.append(Job(j, group[2], group[1], group[0], rng.choice(TITLES), rng.choice(CITIES)))
    pubs = [(p, f"Publisher {p}", f"publisher{p}@example.com") for p in range(1, publishers + 1)]
    return Catalog(companies, campaigns, groups, job_rows, pubs)
