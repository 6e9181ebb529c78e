from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# local/ is the stack's tooling, not a package we ship; tests read its ports from it.
sys.path.insert(0, str(ROOT))
