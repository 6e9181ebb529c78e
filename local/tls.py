"""The local stack's own certificate authority and the certificate its Kafka broker serves,
made with openssl at the stack's first start: every client verifies the broker against this
CA (TIDEMARK_KAFKA_CA_FILE), host name included, as one verifies Strimzi's cluster CA."""

from __future__ import annotations

import subprocess
from pathlib import Path

from local.stack_base import HOST, STACK, StackError

TLS = STACK / "tls"
CA = TLS / "ca.crt"
# The broker's private key and certificate chain in one PEM file, as Kafka reads a keystore.
KAFKA_KEYSTORE = TLS / "kafka.pem"
DAYS = 3650  # outlives the stack: a fresh .stack/ directory makes a new CA


def _openssl(*args: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise StackError(f"openssl {args[0]} failed:\n{done.stderr[-2000:]}")


def ensure() -> Path:
    """The CA and the broker's keystore, made once; returns the CA's certificate."""
    if CA.exists() and KAFKA_KEYSTORE.exists():
        return CA
    TLS.mkdir(parents=True, exist_ok=True)
    ca_key, key, request, cert = TLS / "ca.key", TLS / "kafka.key", TLS / "kafka.csr", TLS / "kafka.crt"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(DAYS), "-subj", "/CN=tidemark local CA",
        "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", str(ca_key), "-out", str(CA),
    )  # fmt: skip
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={HOST}", "-keyout", str(key), "-out", str(request))
    extensions = TLS / "kafka.ext"
    # Clients check the name they dialled against these: the stack's brokers are on loopback.
    extensions.write_text(f"subjectAltName=IP:{HOST},DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(CA), "-CAkey", str(ca_key), "-CAcreateserial",
        "-days", str(DAYS), "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    KAFKA_KEYSTORE.write_text(key.read_text() + cert.read_text() + CA.read_text())
    for private in (ca_key, key, KAFKA_KEYSTORE):
        private.chmod(0o600)
    return CA
