"""`make tools` finds pinned helm and kubectl even when they write their version slowly."""

from __future__ import annotations

import re
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
echo "$(basename "$0") called: a version or cache check failed" >&2
exit 1
"""
HELM = """#!/usr/bin/env bash
echo "v4.1.0+gdeadbee"
"""


def _fake_checkout(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "bin").mkdir()
    for script in ("install-tools.sh", "k8s.sh"):  # k8s.sh pins cert-manager's version
        shutil.copy(ROOT / "scripts" / script, tmp_path / "scripts" / script)
    (tmp_path / "path").mkdir()
    # What the script fetches besides helm and kubectl, already in the (fake) home's cache.
    cache = tmp_path / ".cache" / "tidemark"
    checkov = cache / f"checkov-{pinned('CHECKOV_VERSION', 'install-tools.sh')}" / "bin" / "checkov"
    crds = cache / f"cert-manager-{pinned('CERT_MANAGER_VERSION', 'k8s.sh')}-crds"
    checkov.parent.mkdir(parents=True)
    checkov.write_text("#!/bin/sh\n")
    checkov.chmod(0o755)
    crds.mkdir(parents=True)
    (crds / "cert-manager.io_certificates.yaml").write_text("kind: CustomResourceDefinition\n")
    tools = {"bin/kubectl": SLOW_KUBECTL, "bin/helm": HELM, "path/npm": NO_DOWNLOAD, "path/curl": NO_DOWNLOAD}
    for name, body in tools.items():
        tool = tmp_path / name
        tool.write_text(body)
        tool.chmod(0o755)
    return tmp_path / "scripts" / "install-tools.sh"


def pinned(variable: str, script: str) -> str:
    found = re.search(rf"^{variable}=(\S+)", (ROOT / "scripts" / script).read_text(), re.M)
    assert found, f"{script} pins no {variable}"
    return found.group(1)


def test_should_accept_pinned_tools_that_write_their_version_slowly(tmp_path: Path) -> None:
    script = _fake_checkout(tmp_path)
    path = f"{tmp_path / 'path'}:/usr/bin:/bin"
    done = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, env={"PATH": path, "HOME": str(tmp_path)}
    )
    assert done.returncode == 0, done.stderr
    assert "called" not in done.stderr
