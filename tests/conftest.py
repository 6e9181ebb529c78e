from __future__ import annotations

import sys
from pathlib import Path

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
