"""The schema registry: Apicurio Registry serving the Confluent API."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from local.stack_base import (
    APICURIO_VERSION,
    CACHE,
    HOST,
    JAR_MB,
    PORTS,
    REGISTRY_URL,
    STACK,
    StackError,
    downloading,
    java,
)
from local.supervisor import answers_ok


def apicurio() -> Path:
    """The registry's runner jar, unpacked once from its Maven Central distribution."""
    dest = CACHE / "apicurio" / APICURIO_VERSION
    runner = dest / f"apicurio-registry-app-{APICURIO_VERSION}-runner.jar"
    if runner.exists():
        return runner
    download = CACHE / "apicurio" / "download"
    print(f"  fetching Apicurio Registry {APICURIO_VERSION} from Maven Central (~105 MB, once)", file=sys.stderr)
    done = downloading(
        [
            "mvn",
            "-q",
            "-B",
            "dependency:copy",
            f"-Dartifact=io.apicurio:apicurio-registry-app:{APICURIO_VERSION}:tar.gz:all",
            f"-DoutputDirectory={download}",
        ],
        "Apicurio Registry",
        JAR_MB["apicurio"],
    )
    if done.returncode != 0:
        raise StackError(f"maven could not fetch Apicurio Registry:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    unpacking = dest.with_name(f"{dest.name}.partial")
    shutil.rmtree(unpacking, ignore_errors=True)
    unpacking.mkdir(parents=True)
    archive = download / f"apicurio-registry-app-{APICURIO_VERSION}-all.tar.gz"
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(unpacking)], check=True)
    unpacking.rename(dest)
    return runner


def prepare_registry() -> list[str]:
    # H2 in a file rather than the server's default in-memory database: registered schemas and
    # their ids outlive a restart, as a real registry's store does, so a registry killed while
    # ads flow (make chaos) comes back knowing every id its producers framed.
    data = STACK / "registry"
    data.mkdir(parents=True, exist_ok=True)
    return java(
        "-Xmx256m",
        f"-Dapicurio.datasource.url=jdbc:h2:file:{data / 'registry'}",
        f"-Dquarkus.http.port={PORTS['registry']}",
        f"-Dquarkus.http.host={HOST}",
        "-jar",
        str(apicurio()),
    )


def ready() -> bool:
    return answers_ok(f"{REGISTRY_URL}/subjects")
