"""A real Kubernetes control plane on 127.0.0.1 for the `apiserver` test tier: etcd,
kube-apiserver and kube-controller-manager as plain processes, no Docker.

    python local/apiserver.py up|down|status|env

The binaries are built once from the Go module proxy (local/kube_build.py). etcd data,
certificates, the kubeconfig, pid files and logs live under .stack/apiserver/
(TIDEMARK_STACK_DIR). `up` leaves a running process alone; `down` stops them all.
There is no scheduler, kubelet or storage here: Pods are created but stay Pending until
local/node.py adds a node.
Ports: TIDEMARK_ETCD_PORT (and the two above it), TIDEMARK_KUBE_APISERVER_PORT,
TIDEMARK_KUBE_CONTROLLER_MANAGER_PORT.
"""

from __future__ import annotations

import os
import secrets
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run as a script (`python local/apiserver.py`): make `local` importable
    sys.path.insert(0, str(ROOT))
from local import supervisor  # noqa: E402
from local.kube_build import binary, build, build_dir, locked  # noqa: E402
from local.supervisor import Server, SupervisorError, answers_ok  # noqa: E402

HOST = supervisor.HOST  # every local server listens on loopback only

STACK = Path(os.environ.get("TIDEMARK_STACK_DIR", ROOT / ".stack")).resolve()
STATE = STACK / "apiserver"
PKI = STATE / "pki"
KUBECONFIG = STATE / "kubeconfig"


def port(name: str, default: int) -> int:
    raw = os.environ.get(f"TIDEMARK_{name}_PORT", str(default))
    if not raw.isdigit():
        sys.exit(f"TIDEMARK_{name}_PORT must be a port number, got {raw!r}")
    return int(raw)


ETCD_PORT = port("ETCD", 32379)
APISERVER_PORT = port("KUBE_APISERVER", 36443)
CONTROLLER_MANAGER_PORT = port("KUBE_CONTROLLER_MANAGER", 36444)
SERVER = f"https://{HOST}:{APISERVER_PORT}"


class ApiServerError(SupervisorError):
    pass


# --- certificates and the kubeconfig ----------------------------------------------------------


def openssl(*args: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise ApiServerError(f"openssl {args[0]} failed:\n{done.stderr}")


def signed(name: str, subject: str, extensions: str) -> None:
    """A key and a certificate for `name`, signed by the local CA, valid ten years."""
    ext = PKI / f"{name}.ext"
    ext.write_text(extensions)
    openssl("genrsa", "-out", str(PKI / f"{name}.key"), "2048")
    openssl("req", "-new", "-key", str(PKI / f"{name}.key"), "-subj", subject, "-out", str(PKI / f"{name}.csr"))
    openssl(
        "x509",
        "-req",
        "-in",
        str(PKI / f"{name}.csr"),
        "-CA",
        str(PKI / "ca.crt"),
        "-CAkey",
        str(PKI / "ca.key"),
        "-CAcreateserial",
        "-days",
        "3650",
        "-extfile",
        str(ext),
        "-out",
        str(PKI / f"{name}.crt"),
    )


# Client certificates beside the admin's: (name, subject). The kubelet's and the scheduler's
# identities are the ones their built-in RBAC roles and the Node authorizer know; the API
# server's own, to call kubelets (logs, exec), is an admin.
CLIENTS = (
    ("admin", "/O=system:masters/CN=tidemark-admin"),
    ("apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client"),
    ("kube-scheduler", "/CN=system:kube-scheduler"),
)
CLIENT_EXTENSIONS = (
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
)


def client_certificate(name: str, subject: str) -> None:
    """A client certificate signed by the local CA, made once (an existing PKI gains the ones
    added since it was made)."""
    if not (PKI / f"{name}.crt").exists():
        signed(name, subject, CLIENT_EXTENSIONS)


def pki() -> None:
    """A CA, the API server's serving certificate, the client certificates and the
    service-account token signing key pair; made once, kept with the etcd data."""
    if not (PKI / ".complete").exists():
        shutil.rmtree(PKI, ignore_errors=True)
        PKI.mkdir(parents=True)
        openssl("genrsa", "-out", str(PKI / "ca.key"), "2048")
        openssl(
            "req", "-x509", "-new", "-key", str(PKI / "ca.key"), "-subj", "/CN=tidemark-local-ca", "-days", "3650",
            "-out", str(PKI / "ca.crt"),
        )  # fmt: skip
        signed(
            "apiserver",
            "/CN=kube-apiserver",
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
            "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
            "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n",
        )
        openssl("genrsa", "-out", str(PKI / "sa.key"), "2048")
        openssl("rsa", "-in", str(PKI / "sa.key"), "-pubout", "-out", str(PKI / "sa.pub"))
        (PKI / "tokens.csv").write_text(f"{secrets.token_hex(16)},tidemark-admin,tidemark-admin,system:masters\n")
        (PKI / ".complete").touch()
    for name, subject in CLIENTS:
        client_certificate(name, subject)


def kubeconfig(user: str, certificate: str) -> str:
    """A kubeconfig for this control plane as the client certificate PKI/<certificate>.crt."""
    return f"""\
apiVersion: v1
kind: Config
clusters:
- name: tidemark-local
  cluster:
    server: {SERVER}
    certificate-authority: {PKI / "ca.crt"}
users:
- name: {user}
  user:
    client-certificate: {PKI / f"{certificate}.crt"}
    client-key: {PKI / f"{certificate}.key"}
contexts:
- name: tidemark-local
  context:
    cluster: tidemark-local
    user: {user}
current-context: tidemark-local
"""


def write_kubeconfig() -> None:
    KUBECONFIG.write_text(kubeconfig("tidemark-admin", "admin"))


# --- the processes ----------------------------------------------------------------------------


def admin_tls() -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(PKI / "ca.crt"))
    context.load_cert_chain(str(PKI / "admin.crt"), str(PKI / "admin.key"))
    return context


def unverified_tls() -> ssl.SSLContext:
    # The controller-manager serves its health check with a self-signed certificate of its own.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def etcd_argv() -> list[str]:
    peer, metrics = ETCD_PORT + 1, ETCD_PORT + 2
    return [
        str(binary("etcd")),
        "--name=kapi",
        f"--data-dir={STATE / 'etcd-data'}",
        f"--listen-client-urls=http://{HOST}:{ETCD_PORT}",
        f"--advertise-client-urls=http://{HOST}:{ETCD_PORT}",
        f"--listen-peer-urls=http://{HOST}:{peer}",
        f"--initial-advertise-peer-urls=http://{HOST}:{peer}",
        f"--initial-cluster=kapi=http://{HOST}:{peer}",
        "--initial-cluster-state=new",
        f"--listen-metrics-urls=http://{HOST}:{metrics}",
        # Test data: losing the last writes on a crash costs nothing, and fsync makes every apply slow.
        "--unsafe-no-fsync",
        "--quota-backend-bytes=2147483648",
        "--log-level=warn",
    ]


def apiserver_argv() -> list[str]:
    return [
        str(binary("kube-apiserver")),
        f"--etcd-servers=http://{HOST}:{ETCD_PORT}",
        f"--bind-address={HOST}",
        f"--secure-port={APISERVER_PORT}",
        f"--advertise-address={HOST}",
        # One server and no kubelet: nothing should rewrite the `kubernetes` Service's endpoints.
        "--endpoint-reconciler-type=none",
        f"--tls-cert-file={PKI / 'apiserver.crt'}",
        f"--tls-private-key-file={PKI / 'apiserver.key'}",
        f"--client-ca-file={PKI / 'ca.crt'}",
        f"--token-auth-file={PKI / 'tokens.csv'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={PKI / 'sa.pub'}",
        f"--service-account-signing-key-file={PKI / 'sa.key'}",
        "--service-cluster-ip-range=10.96.0.0/16",
        # Node authorizes each kubelet for its own Pods only (local/node.py runs one);
        # NodeRestriction keeps it from labelling or changing any other node.
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        f"--kubelet-client-certificate={PKI / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={PKI / 'apiserver-kubelet-client.key'}",
        # logs and exec go to the node by its name, which resolves to 127.0.0.1: never to its
        # InternalIP, which the kubelet takes from the default route (not loopback).
        "--kubelet-preferred-address-types=Hostname",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ]


def client_flags(kubeconfig: Path, secure_port: int) -> list[str]:
    """What a controller-manager or scheduler needs to call the API server as `kubeconfig`'s
    user and serve its health checks on 127.0.0.1, alone (no leader election)."""
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={HOST}",
        f"--secure-port={secure_port}",
        "--leader-elect=false",
    ]


def controller_manager_argv() -> list[str]:
    return [
        str(binary("kube-controller-manager")),
        *client_flags(KUBECONFIG, CONTROLLER_MANAGER_PORT),
        f"--service-account-private-key-file={PKI / 'sa.key'}",
        f"--root-ca-file={PKI / 'ca.crt'}",
        f"--cluster-signing-cert-file={PKI / 'ca.crt'}",
        f"--cluster-signing-key-file={PKI / 'ca.key'}",
        "--use-service-account-credentials=true",
        # No cloud, no pod network and no attachable volumes here: the controllers for those
        # would only log errors. The volume binder stays: the node tier binds the checkpoints'
        # claim to a host-path volume.
        "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route,-attachdetach",
        "--v=1",
    ]


PROCESSES = [
    Server("etcd", ETCD_PORT, etcd_argv, lambda: answers_ok(f"http://{HOST}:{ETCD_PORT}/health"), 60, STATE),
    Server(
        "kube-apiserver",
        APISERVER_PORT,
        apiserver_argv,
        lambda: answers_ok(f"{SERVER}/readyz", admin_tls()),
        120,
        STATE,
    ),
    Server(
        "kube-controller-manager",
        CONTROLLER_MANAGER_PORT,
        controller_manager_argv,
        lambda: answers_ok(f"https://{HOST}:{CONTROLLER_MANAGER_PORT}/healthz", unverified_tls()),
        60,
        STATE,
    ),
]


def stop(process: Server, grace_s: float = 45) -> None:
    supervisor.stop(process, grace_s)


def up() -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    with locked(STATE / ".lock"):
        if any(p.pid() is None for p in PROCESSES):
            build()
            pki()
        write_kubeconfig()
        supervisor.up(PROCESSES)
    print(f"KUBECONFIG={KUBECONFIG}")


def down() -> None:
    # The API server drains for a few seconds before it exits.
    for process in reversed(PROCESSES):
        stop(process)


def status() -> int:
    missing, _ = supervisor.report(PROCESSES)
    built = "built" if (build_dir() / ".complete").exists() else "not built yet"
    print(f"{'binaries':24} {built}: {build_dir()}")
    return missing


def env() -> None:
    print(f"export KUBECONFIG={KUBECONFIG}")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in {"up", "down", "status", "env"}:
        print(__doc__)
        return 2
    try:
        if argv[0] == "up":
            up()
        elif argv[0] == "down":
            down()
        elif argv[0] == "env":
            env()
        else:
            return 1 if status() else 0
    except SupervisorError as e:
        print(f"apiserver: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
