from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# local/ is the stack's tooling, not a package we ship; tests read its ports from it.
sys.path.insert(0, str(ROOT))

# A test's tier is the folder it lives in (tests/<tier>/…); `-m <tier>` selects exactly that
# folder. `make test` runs every folder, tiers in this order: the quick ones first; the node
# after the images it runs; and chaos, which kills and restarts the stack's servers, last.
TIERS = ("unit", "chart", "apiserver", "integration", "images", "node", "chaos")


def tier_of(path: Path) -> str | None:
    """The tier of a test under tests/ ("" when its folder is none), None outside tests/."""
    try:
        parts = path.resolve().relative_to(ROOT / "tests").parts
    except ValueError:
        return None  # k8s-tests/ and the like carry their own markers
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else ""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks each test with its tier and orders the tiers; a test in no tier's folder stops the
    run, so a new folder cannot be skipped silently by every tier's selection."""
    outside = sorted({str(Path(item.path).relative_to(ROOT)) for item in items if tier_of(Path(item.path)) == ""})
    if outside:
        raise pytest.UsageError(
            f"tests outside a tier folder ({', '.join(f'tests/{t}/' for t in TIERS)}): {', '.join(outside)}. "
            "Move them into one, or add their folder to TIERS in tests/conftest.py."
        )
    for item in items:
        tier = tier_of(Path(item.path))
        if tier:
            item.add_marker(getattr(pytest.mark, tier))
    items.sort(key=lambda item: TIERS.index(tier_of(Path(item.path)) or TIERS[0]))


TIER_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    tier = tier_of(Path(report.fspath)) if report.fspath else None
    if tier:
        TIER_SECONDS[tier] = TIER_SECONDS.get(tier, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How long each tier took (set-up, call and tear-down of its tests), so a slow loop shows where."""
    if TIER_SECONDS:
        terminalreporter.section("time per tier")
        for tier in TIERS:
            if tier in TIER_SECONDS:
                terminalreporter.write_line(f"tier {tier:<12} {TIER_SECONDS[tier]:7.1f}s")
