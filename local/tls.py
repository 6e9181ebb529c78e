"""The local stack's own certificate authority and the certificate its servers serve, made with
openssl (and keytool, for Java's truststore) at the stack's first start. Kafka, MariaDB and
Cassandra present the same loopback certificate, and every client verifies it against this CA,
host name included, as one verifies Strimzi's cluster CA or a cert-manager issuer's."""

from __future__ import annotations

import subprocess
from pathlib import Path

from local.stack_base import HOST, STACK, StackError

TLS = STACK / "tls"
CA = TLS / "ca.crt"
SERVER_KEY = TLS / "server.key"
SERVER_CERT = TLS / "server.crt"
# The server's private key and certificate chain in one PEM file, as Kafka and Cassandra read a
# keystore.
SERVER_PEM = TLS / "server.pem"
# The CA as a PKCS12 truststore, for Java clients that read no PEM (Debezium's MySQL client,
# Spark's Cassandra connector). It holds a public certificate only: its password guards nothing.
TRUSTSTORE = TLS / "truststore.p12"
TRUSTSTORE_PASSWORD = "tidemark-local"
DAYS = 3650  # outlives the stack: a fresh .stack/ directory makes a new CA
MADE = (CA, SERVER_KEY, SERVER_CERT, SERVER_PEM, TRUSTSTORE)


def _run(tool: str, *args: str) -> None:
    done = subprocess.run([tool, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise StackError(f"{tool} {args[0]} failed:\n{done.stderr[-2000:]}")


def ensure() -> Path:
    """The CA, the servers' certificate and the truststore, made once (all again if one is
    missing, so they always belong together); returns the CA's certificate."""
    if all(path.exists() for path in MADE):
        return CA
    TLS.mkdir(parents=True, exist_ok=True)
    ca_key, request, extensions = TLS / "ca.key", TLS / "server.csr", TLS / "server.ext"
    _run(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(DAYS),
        "-subj", "/CN=tidemark local CA", "-addext", "basicConstraints=critical,CA:true",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", str(ca_key), "-out", str(CA),
    )  # fmt: skip
    _run(
        "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={HOST}",
        "-keyout", str(SERVER_KEY), "-out", str(request),
    )  # fmt: skip
    # Clients check the name they dialled against these: the stack's servers are on loopback.
    extensions.write_text(f"subjectAltName=IP:{HOST},DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
    _run(
        "openssl", "x509", "-req", "-in", str(request), "-CA", str(CA), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", str(DAYS), "-extfile", str(extensions), "-out", str(SERVER_CERT),
    )  # fmt: skip
    SERVER_PEM.write_text(SERVER_KEY.read_text() + SERVER_CERT.read_text() + CA.read_text())
    TRUSTSTORE.unlink(missing_ok=True)
    # keytool, not openssl: Java trusts a PKCS12 entry only with the attribute keytool writes.
    _run(
        "keytool", "-importcert", "-noprompt", "-alias", "tidemark-local-ca", "-file", str(CA),
        "-storetype", "PKCS12", "-keystore", str(TRUSTSTORE), "-storepass", TRUSTSTORE_PASSWORD,
    )  # fmt: skip
    for private in (ca_key, SERVER_KEY, SERVER_PEM):
        private.chmod(0o600)
    return CA
