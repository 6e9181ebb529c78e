"""A real Kubernetes node on 127.0.0.1 for the `node` test tier: the apiserver tier's control
plane (local/apiserver.py) plus kube-scheduler, a private containerd and a kubelet, so the
chart's workloads run as Pods from tidemark's own images.

    python local/node.py up|down|status|env

The scheduler and kubelet binaries are built with the control plane's (one cache). containerd
and runc are Debian's (`make system`). Every Pod runs on the host network, and the runtime's
only network is loopback: nothing gets an address, and nothing is sent off 127.0.0.1. The
node is named `localhost`, so the API server reaches the kubelet (logs, exec) at 127.0.0.1;
its InternalIP, which the kubelet takes from the default route, is never dialed.

The kubelet changes the host: three sysctls, cgroups under `kubepods`, two fixed paths, and
mounts under its root. `up` records the host's state before the first start; `down` kills
what the node runs, unmounts, removes the cgroups and paths it made, and restores the sysctls.
Everything else lives under .stack/node/ (containerd's images stay there across `down`).
Ports: TIDEMARK_KUBE_SCHEDULER_PORT (36445), TIDEMARK_KUBELET_PORT (10250) and the kubelet's
health port, TIDEMARK_KUBELET_HEALTHZ_PORT (10248).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run as a script (`python local/node.py`): make `local` importable
    sys.path.insert(0, str(ROOT))
from local import apiserver, supervisor  # noqa: E402
from local.apiserver import HOST, PKI, port, unverified_tls  # noqa: E402
from local.kube_build import binary, locked  # noqa: E402
from local.supervisor import Server, SupervisorError, answers_ok  # noqa: E402

NODE = apiserver.STACK / "node"
RUN = NODE / "run"
SOCKET = RUN / "containerd.sock"
KUBELET_ROOT = NODE / "kubelet"
CONTAINERD_ROOT = NODE / "containerd"
HOST_STATE = NODE / "host-state.json"
NAME = "localhost"
PAUSE_IMAGE = "localhost/tidemark/pause:1"
NAMESPACE = "k8s.io"  # containerd's namespace for the CRI's images and containers

SCHEDULER_PORT = port("KUBE_SCHEDULER", 36445)
KUBELET_PORT = port("KUBELET", 10250)
KUBELET_HEALTHZ_PORT = port("KUBELET_HEALTHZ", 10248)

# What the kubelet sets on every start (it has no warn-only mode), and its values to restore.
SYSCTLS = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")
# Paths the kubelet uses whatever its root directory is.
FIXED_PATHS = (Path("/var/log/containers"), Path("/var/lib/kubelet/device-plugins"))
CGROUPS = Path("/sys/fs/cgroup")
DEBIAN_PACKAGES = {"containerd": "containerd", "runc": "runc", "ctr": "containerd"}
CNI_BIN = Path("/usr/lib/cni")


class NodeError(Exception):
    pass


# --- the host's state ------------------------------------------------------------------------


def first_missing(path: Path) -> Path | None:
    """The outermost part of `path` that does not exist (what creating it would create)."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def record_host() -> None:
    """Saves the sysctls and which fixed paths are missing, once: a second `up` (the kubelet has
    changed them since) must not overwrite what the host had before."""
    if HOST_STATE.exists():
        return
    HOST_STATE.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "sysctls": {name: (Path("/proc/sys") / name).read_text().strip() for name in SYSCTLS},
        "created": [str(m) for p in FIXED_PATHS if (m := first_missing(p)) is not None],
    }
    HOST_STATE.write_text(json.dumps(state, indent=2))


def restore_host() -> None:
    if not HOST_STATE.exists():
        return
    state = json.loads(HOST_STATE.read_text())
    for name, value in state["sysctls"].items():
        (Path("/proc/sys") / name).write_text(value)
    for path in state["created"]:
        shutil.rmtree(path, ignore_errors=True)
    HOST_STATE.unlink()
    print(f"{'host':24} restored sysctls {', '.join(state['sysctls'])}; removed {state['created'] or 'nothing'}")


def kubepods() -> list[Path]:
    """The kubelet's cgroups (cgroupfs driver: /kubepods/... under each v1 controller), deepest first."""
    found = [d for controller in CGROUPS.iterdir() if (d := controller / "kubepods").is_dir()]
    nested = [Path(top) for root in found for top, _, _ in os.walk(root)]
    return sorted(nested, key=lambda p: len(p.parts), reverse=True)


def kill_pods() -> int:
    """SIGKILL to every process in the kubelet's cgroups: the Pods' containers outlive the
    kubelet and containerd (their shims hold them)."""
    pids = set()
    for group in kubepods():
        try:
            pids |= {int(p) for p in (group / "cgroup.procs").read_text().split()}
        except OSError:
            continue
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def kill_shims() -> None:
    """containerd's per-container shims of this node's containerd (matched by its socket)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and b"containerd-shim" in argv[0] and str(SOCKET).encode() in argv:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or under `path`, deepest first (/proc/self/mountinfo's fifth field)."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == str(path) or point.startswith(f"{path}/"):
            points.append(point)
    return sorted(points, key=len, reverse=True)


def unmount_all() -> int:
    points = mounts_under(NODE)
    for point in points:
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)
    return len(points)


def remove_cgroups() -> None:
    deadline = time.monotonic() + 20
    while True:
        left = []
        for group in kubepods():
            try:
                group.rmdir()
            except OSError:
                left.append(group)
        if not left:
            return
        if time.monotonic() > deadline:
            raise NodeError(f"cgroups still busy after the node's processes were killed: {left[:5]}")
        kill_pods()
        time.sleep(0.5)


# --- configuration ---------------------------------------------------------------------------


def kubelet_kubeconfig() -> Path:
    """The kubelet's identity: the one the Node authorizer and NodeRestriction know it by."""
    name = f"kubelet-{NAME}"
    apiserver.client_certificate(name, f"/O=system:nodes/CN=system:node:{NAME}")
    path = NODE / "kubelet.kubeconfig"
    path.write_text(apiserver.kubeconfig(f"system:node:{NAME}", name))
    return path


def scheduler_kubeconfig() -> Path:
    path = NODE / "scheduler.kubeconfig"
    path.write_text(apiserver.kubeconfig("system:kube-scheduler", "kube-scheduler"))
    return path


def containerd_config() -> Path:
    """A private containerd: its own root, state, socket, plugins and CNI folder."""
    cni = NODE / "net.d"
    cni.mkdir(parents=True, exist_ok=True)
    # Loopback only: the runtime reports its network ready, and never hands out an address.
    (cni / "10-lo-only.conflist").write_text(
        json.dumps({"cniVersion": "0.4.0", "name": "lo-only", "plugins": [{"type": "loopback"}]})
    )
    path = NODE / "containerd.toml"
    path.write_text(f"""\
version = 2
root = "{CONTAINERD_ROOT}"
state = "{RUN / "containerd-state"}"

[grpc]
  address = "{SOCKET}"

[ttrpc]
  address = "{RUN / "containerd-ttrpc.sock"}"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{NODE / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "{HOST}"
  stream_server_port = "0"
  disable_apparmor = true
  # Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails to start, as the
  # pause container asks for an oom_score_adj below the runtime's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{RUN / "runc"}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{cni}"
    max_conf_num = 1
""")
    return path


def kubelet_config() -> Path:
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        # 1.35 refuses cgroup v1 unless told; this host has v1 only.
        "failCgroupV1": False,
        # containerd 1.6 lacks the CRI call that reports the runtime's cgroup driver.
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{SOCKET}",
        "address": HOST,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": HOST,
        "healthzPort": KUBELET_HEALTHZ_PORT,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(PKI / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "failSwapOn": False,
        "podLogsDir": str(NODE / "podlogs"),
        "volumePluginDir": str(NODE / "plugins"),
        # Else it adds KUBE-FIREWALL jumps to the host's INPUT and OUTPUT chains.
        "makeIPTablesUtilChains": False,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
        "imageGCHighThresholdPercent": 95,
        "imageGCLowThresholdPercent": 90,
        "serializeImagePulls": False,
    }
    path = NODE / "kubelet.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


# --- the processes ---------------------------------------------------------------------------


def containerd_ready() -> bool:
    done = subprocess.run(["ctr", "--address", str(SOCKET), "version"], capture_output=True, timeout=10)
    return done.returncode == 0


def kubelet_ready() -> bool:
    return answers_ok(f"http://{HOST}:{KUBELET_HEALTHZ_PORT}/healthz")


def containerd_argv() -> list[str]:
    return ["containerd", "--config", str(containerd_config()), "--log-level", "warn"]


def scheduler_argv() -> list[str]:
    kubeconfig = scheduler_kubeconfig()
    return [str(binary("kube-scheduler")), *apiserver.client_flags(kubeconfig, SCHEDULER_PORT), "--v=1"]


def kubelet_argv() -> list[str]:
    return [
        str(binary("kubelet")),
        f"--config={kubelet_config()}",
        f"--kubeconfig={kubelet_kubeconfig()}",
        f"--root-dir={KUBELET_ROOT}",
        f"--cert-dir={NODE / 'kubelet-pki'}",
        f"--hostname-override={NAME}",
        "--v=1",
    ]


PROCESSES = [
    Server("containerd", 0, containerd_argv, containerd_ready, 60, home=NODE),
    Server(
        "kube-scheduler",
        SCHEDULER_PORT,
        scheduler_argv,
        lambda: answers_ok(f"https://{HOST}:{SCHEDULER_PORT}/healthz", unverified_tls()),
        60,
        home=NODE,
    ),
    Server("kubelet", KUBELET_PORT, kubelet_argv, kubelet_ready, 90, home=NODE),
]


def kubectl(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(ROOT / "bin" / "kubectl"), "--kubeconfig", str(apiserver.KUBECONFIG), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and done.returncode != 0:
        raise NodeError(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
    return done


def node_ready() -> bool:
    done = kubectl("get", "node", NAME, "-o", "json", check=False)
    if done.returncode != 0:
        return False
    conditions = json.loads(done.stdout)["status"].get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def prerequisites() -> None:
    missing = sorted({pkg for tool, pkg in DEBIAN_PACKAGES.items() if shutil.which(tool) is None})
    if missing:
        raise NodeError(f"{', '.join(missing)} not installed: run `make system` (Debian packages {missing})")
    if not (CNI_BIN / "loopback").exists():
        raise NodeError(f"no CNI loopback plugin in {CNI_BIN}: install Debian's containernetworking-plugins")
    if not (ROOT / "bin" / "kubectl").exists():
        raise NodeError("bin/kubectl is missing: run `make tools`")


# --- images ----------------------------------------------------------------------------------


def image_id(name: str) -> str:
    done = subprocess.run(
        ["buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}}", name], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise NodeError(f"no image {name} in buildah's store: build it first (`make images`)\n{done.stderr}")
    return done.stdout.strip()


def imported(reference: str) -> bool:
    done = subprocess.run(
        ["ctr", "--address", str(SOCKET), "-n", NAMESPACE, "images", "ls", "-q", f"name=={reference}"],
        capture_output=True,
        text=True,
    )
    return done.returncode == 0 and reference in done.stdout.split()


def import_image(local_name: str, reference: str) -> None:
    """Copies an image from buildah's store into the node's containerd under `reference` (the
    name a Pod's `image` resolves to), unless that very image is there already."""
    stamp = NODE / "imported" / reference.replace("/", "_")
    wanted = image_id(local_name)
    if imported(reference) and stamp.exists() and stamp.read_text() == wanted:
        return
    t0 = time.monotonic()
    archive = NODE / "imported" / "image.tar"
    archive.parent.mkdir(parents=True, exist_ok=True)
    try:
        for argv in (
            ["buildah", "push", "--quiet", local_name, f"docker-archive:{archive}:{reference}"],
            ["ctr", "--address", str(SOCKET), "-n", NAMESPACE, "images", "import", "--no-unpack", str(archive)],
        ):
            done = subprocess.run(argv, capture_output=True, text=True)
            if done.returncode != 0:
                raise NodeError(f"{' '.join(argv[:3])} failed for {reference}:\n{done.stderr[-3000:]}")
    finally:
        archive.unlink(missing_ok=True)
    stamp.write_text(wanted)
    print(f"{'image':24} {reference} imported in {time.monotonic() - t0:.0f}s", flush=True)


def pause_image() -> None:
    """The sandbox image, built from images/pause: a static binary in an empty image."""
    context = NODE / "pause-build"
    context.mkdir(parents=True, exist_ok=True)
    source = ROOT / "images" / "pause"
    binary_path = context / "pause"
    if not binary_path.exists() or binary_path.stat().st_mtime < (source / "pause.c").stat().st_mtime:
        subprocess.run(["gcc", "-static", "-Os", "-o", str(binary_path), str(source / "pause.c")], check=True)
        subprocess.run(
            [
                "buildah", "bud", "-q", "--isolation", "chroot", "--pull=never", "--format", "docker",
                "-f", str(source / "Dockerfile"), "-t", PAUSE_IMAGE, str(context),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    import_image(PAUSE_IMAGE, PAUSE_IMAGE)


# --- up, down --------------------------------------------------------------------------------


def up() -> None:
    prerequisites()
    apiserver.up()
    NODE.mkdir(parents=True, exist_ok=True)
    with locked(NODE / ".lock"):
        record_host()
        supervisor.up(PROCESSES[:1])  # containerd first: the pause image goes into it
        pause_image()
        supervisor.up(PROCESSES[1:])
        t0 = time.monotonic()
        deadline = t0 + 90
        while not node_ready():
            if time.monotonic() > deadline:
                raise NodeError(f"node {NAME} not Ready within 90s; kubelet log {PROCESSES[2].log}:\n"
                                f"{supervisor.tail(PROCESSES[2].log)}")  # fmt: skip
            time.sleep(0.5)
        print(f"{'node ' + NAME:24} Ready (waited {time.monotonic() - t0:.1f}s)")
    env()


def down() -> None:
    """Stops the node and gives the host back as `up` found it. The control plane stays up."""
    NODE.mkdir(parents=True, exist_ok=True)
    with locked(NODE / ".lock"):
        containerd, scheduler, kubelet = PROCESSES
        supervisor.stop(kubelet, grace_s=30)
        killed = kill_pods()
        kill_shims()
        supervisor.stop(scheduler, grace_s=15)
        supervisor.stop(containerd, grace_s=15)
        unmounted = unmount_all()
        remove_cgroups()
        print(f"{'pods':24} {killed} processes killed, {unmounted} mounts unmounted, cgroups removed")
        restore_host()
        if apiserver.PROCESSES[1].pid() is not None:
            # Its Pods go with it (the pod garbage collector), so the next `up` starts clean.
            kubectl("delete", "node", NAME, "--ignore-not-found", "--wait=false", check=False)


def status() -> int:
    missing, _ = supervisor.report(PROCESSES)
    if not missing:
        print(f"{'node ' + NAME:24} {'Ready' if node_ready() else 'not Ready'}")
    return missing


def env() -> None:
    print(f"export KUBECONFIG={apiserver.KUBECONFIG}")


def main(argv: list[str]) -> int:
    commands = {"up": up, "down": down, "env": env}
    if len(argv) != 1 or argv[0] not in {*commands, "status"}:
        print(__doc__)
        return 2
    try:
        if argv[0] == "status":
            return 1 if status() else 0
        commands[argv[0]]()
    except (NodeError, SupervisorError) as e:
        print(f"node: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
