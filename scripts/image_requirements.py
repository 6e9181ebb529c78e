"""Generates images/requirements.txt, the pinned runtime dependencies the images install
first (so a code change reuses that layer), from pyproject.toml: the one source.

    python scripts/image_requirements.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "images" / "requirements.txt"


def generate() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = ["# Generated from pyproject.toml by scripts/image_requirements.py: do not edit.", *project["dependencies"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is stale: run python scripts/image_requirements.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
