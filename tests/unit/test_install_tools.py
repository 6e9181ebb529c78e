"""`make tools` finds pinned helm and kubectl even when they write their version slowly."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import ROOT

# kubectl prints its client version, then (a moment later) the Kustomize version. A check
# that pipes into `grep -q` under pipefail sees kubectl die of SIGPIPE on that second line.
SLOW_KUBECTL = """#!/usr/bin/env bash
echo "Client Version: v1.35.0"
sleep 0.3
echo "Kustomize Version: v5.7.1"
"""
# If the version check wrongly fails, the script downloads: make that fail loudly.
NO_DOWNLOAD = """#!/usr/bin/env bash
echo "npm called: the version check failed" >&2
exit 1
"""
HELM = """#!/usr/bin/env bash
echo "v4.1.0+gdeadbee"
"""


def _fake_checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "bin").mkdir()
    shutil.copy(ROOT / "scripts" / "install-tools.sh", tmp_path / "scripts" / "install-tools.sh")
    (tmp_path / "path").mkdir()
    tools = {"bin/kubectl": SLOW_KUBECTL, "bin/helm": HELM, "path/npm": NO_DOWNLOAD}
    for name, body in tools.items():
        tool = tmp_path / name
        tool.write_text(body)
        tool.chmod(0o755)
    return tmp_path / "scripts" / "install-tools.sh"


def test_should_accept_pinned_tools_that_write_their_version_slowly(tmp_path: Path) -> None:
    script = _fake_checkout(tmp_path)
    path = f"{tmp_path / 'path'}:/usr/bin:/bin"
    done = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, env={"PATH": path, "HOME": str(tmp_path)}
    )
    assert done.returncode == 0, done.stderr
    assert "npm" not in done.stderr
