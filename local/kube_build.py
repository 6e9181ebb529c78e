"""Kubernetes' own binaries built from the Go module proxy, once per go.mod: etcd,
kube-apiserver and kube-controller-manager for local/apiserver.py, kube-scheduler and kubelet
for local/node.py (one cache holds one Kubernetes).

A wrapper module requires k8s.io/kubernetes and replaces its staging modules by their
published versions (`go install` refuses k8s's own go.mod). The binaries are cached under
~/.cache/tidemark/kube-apiserver/<hash of go.mod>/ (TIDEMARK_CACHE_DIR); the first build
takes several minutes, later ones are free.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from local.supervisor import SupervisorError, tail

CACHE = Path(os.environ.get("TIDEMARK_CACHE_DIR", Path.home() / ".cache" / "tidemark"))

GO = os.environ.get("GO", shutil.which("go") or "/usr/local/go/bin/go")

KUBERNETES_VERSION = "v1.35.4"
# The staging modules k8s.io/kubernetes replaces with ./staging/…; each is published as v0.<minor>.<patch>.
STAGING_VERSION = "v0.35.4"
# The etcd that Kubernetes 1.35 is tested with; its server module's root package is etcd's main.
ETCD_VERSION = "v3.6.5"
STAGING = (
    "api",
    "apiextensions-apiserver",
    "apimachinery",
    "apiserver",
    "cli-runtime",
    "client-go",
    "cloud-provider",
    "cluster-bootstrap",
    "code-generator",
    "component-base",
    "component-helpers",
    "controller-manager",
    "cri-api",
    "cri-client",
    "csi-translation-lib",
    "dynamic-resource-allocation",
    "endpointslice",
    "externaljwt",
    "kms",
    "kube-aggregator",
    "kube-controller-manager",
    "kube-proxy",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "metrics",
    "mount-utils",
    "pod-security-admission",
    "sample-apiserver",
    "sample-cli-plugin",
    "sample-controller",
)
PACKAGES = {
    "etcd": "go.etcd.io/etcd/server/v3",
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    # The node tier's (local/node.py): built with the rest so one cache holds one Kubernetes.
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubelet": "k8s.io/kubernetes/cmd/kubelet",
}
# Minutes a cold build took on 2 cores, shown while it runs.
BUILD_MINUTES = {"etcd": 1, "kube-apiserver": 4, "kube-controller-manager": 1, "kube-scheduler": 1, "kubelet": 3}


class BuildError(SupervisorError):
    pass


def go_mod() -> str:
    replaces = "\n".join(f"\tk8s.io/{m} => k8s.io/{m} {STAGING_VERSION}" for m in STAGING)
    tools = "\n".join(f"\t{p}" for p in PACKAGES.values())
    return (
        "module example.local/kapi\n\ngo 1.25.0\n\n"
        f"require (\n\tk8s.io/kubernetes {KUBERNETES_VERSION}\n\tgo.etcd.io/etcd/server/v3 {ETCD_VERSION}\n)\n\n"
        f"replace (\n{replaces}\n)\n\n"
        # `tool` lines (Go >= 1.24) keep `go mod tidy` from dropping the main packages.
        f"tool (\n{tools}\n)\n"
    )


def build_dir() -> Path:
    return CACHE / "kube-apiserver" / hashlib.sha256(go_mod().encode()).hexdigest()[:12]


def binary(name: str) -> Path:
    return build_dir() / "bin" / name


def ldflags() -> str:
    """Without these the server reports v0.0.0-master, and helm's kube-version checks see that."""
    major, minor = KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.gitVersion={KUBERNETES_VERSION}", f"-X {pkg}.gitMajor={major}"]
        flags += [f"-X {pkg}.gitMinor={minor}"]
    flags.append("-X k8s.io/component-base/version.gitTreeState=clean")
    return " ".join(flags)


def run_go(args: list[str], cwd: Path, what: str, expected_min: float | None, every_s: float = 15) -> None:
    """Runs a go command, saying every `every_s` how long it has been going and, for a build
    (`-v` names each package as it is compiled), how many packages it compiled so far."""
    started = time.monotonic()
    log = cwd / "build.log"
    with log.open("ab") as out:
        offset = out.tell()
        proc = subprocess.Popen([GO, *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        while True:
            try:
                proc.wait(timeout=every_s)
                break
            except subprocess.TimeoutExpired:
                with log.open("rb") as written:
                    written.seek(offset)
                    compiled = written.read().count(b"\n")
                done = f", {compiled} packages compiled" if "-v" in args else ""
                of = f" (cold, on 2 idle cores: about {expected_min:.0f} min)" if expected_min else ""
                print(f"  {what}: {time.monotonic() - started:.0f}s{done}{of}", file=sys.stderr, flush=True)
    if proc.returncode != 0:
        raise BuildError(f"`go {' '.join(args[:2])}` failed for {what}; log {log}:\n{tail(log, 40)}")
    print(f"  {what}: done in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)


def build() -> None:
    """Builds etcd, kube-apiserver and kube-controller-manager once per go.mod; later calls are free."""
    dest = build_dir()
    if (dest / ".complete").exists():
        return
    if not Path(GO).exists():
        raise BuildError(f"no Go toolchain at {GO}; install Go >= 1.24 or set GO=/path/to/go")
    dest.mkdir(parents=True, exist_ok=True)
    with locked(dest / ".lock"):
        if (dest / ".complete").exists():
            return
        print(
            f"building Kubernetes {KUBERNETES_VERSION} and etcd {ETCD_VERSION} from the Go module proxy "
            f"into {dest} (once; several minutes)",
            file=sys.stderr,
            flush=True,
        )
        started = time.monotonic()
        (dest / "go.mod").write_text(go_mod())
        (dest / "go.sum").unlink(missing_ok=True)
        run_go(["mod", "tidy"], dest, "go mod tidy (downloads ~0.8 GB of modules)", 1)
        for name, package in PACKAGES.items():
            out = dest / "bin" / name
            if out.exists():
                continue
            partial = out.with_name(f".{name}.partial")
            run_go(
                ["build", "-v", "-p", "2", "-trimpath", "-ldflags", f"-s -w {ldflags()}", "-o", str(partial), package],
                dest,
                f"go build {name}",
                BUILD_MINUTES[name],
            )
            partial.rename(out)
        (dest / ".complete").write_text(f"{time.monotonic() - started:.0f}s\n")
        print(f"built in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Holds an exclusive lock on `path` so two `up`s at once (two test sessions) do not race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
