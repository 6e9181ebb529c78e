from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# local/ is the stack's tooling, not a package we ship; tests read its ports from it.
sys.path.insert(0, str(ROOT))

# A test's tier is the folder it lives in (tests/<tier>/…); `-m <tier>` selects exactly that folder.
TIERS = ("unit", "chart", "integration", "images")


def tier_of(path: Path) -> str | None:
    parts = path.resolve().relative_to(ROOT / "tests").parts
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(Path(item.path))
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))


TIER_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    tier = tier_of(Path(report.fspath)) if report.fspath else None
    if tier is not None:
        TIER_SECONDS[tier] = TIER_SECONDS.get(tier, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How long each tier took (set-up, call and tear-down of its tests), so a slow loop shows where."""
    if TIER_SECONDS:
        terminalreporter.section("time per tier")
        for tier in TIERS:
            if tier in TIER_SECONDS:
                terminalreporter.write_line(f"tier {tier:<12} {TIER_SECONDS[tier]:7.1f}s")
