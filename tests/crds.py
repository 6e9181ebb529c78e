"""The CRDs the chart's custom resources are checked against: the operators' own from
../shared/crds, and cert-manager's Issuer and Certificate, which `make tools` fetches (at the
version scripts/k8s.sh installs) into the cache."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "crds"
OPERATORS = ("strimzi-1.2.0", "k8ssandra-operator-1.32.5", "prometheus-operator-0.93.0")


def cert_manager_version() -> str:
    found = re.search(r"^CERT_MANAGER_VERSION=(\S+)", (ROOT / "scripts" / "k8s.sh").read_text(), re.M)
    assert found, "scripts/k8s.sh pins no CERT_MANAGER_VERSION"
    return found.group(1)


def crd_files() -> list[Path]:
    cert_manager = Path.home() / ".cache" / "tidemark" / f"cert-manager-{cert_manager_version()}-crds"
    ours = sorted(cert_manager.glob("*.yaml"))
    if not ours:
        raise FileNotFoundError(f"{cert_manager} holds no CRDs: run `make tools`")
    return sorted(p for folder in OPERATORS for p in (SHARED / folder).glob("*.yaml")) + ours
