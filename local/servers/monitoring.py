"""Prometheus, scraping with the chart's own alert rules, and the Pushgateway."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from jobs.settings import LOCAL_RELEASE
from local.stack_base import (
    HOST,
    PORTS,
    ROOT,
    STACK,
    StackError,
    producer_metrics_ports,
    write,
)


def prepare_pushgateway() -> list[str]:
    return ["prometheus-pushgateway", f"--web.listen-address={HOST}:{PORTS['pushgateway']}"]


def render_rules() -> Path:
    """The chart's alert and recording rules, rendered as the cluster gets them."""
    import yaml

    helm = ROOT / "bin" / "helm"
    if not helm.exists():
        raise StackError("prometheus: ./bin/helm is missing to render the chart's rules; run `make tools`")
    apis = [f"--api-versions={api}" for api in ("monitoring.coreos.com/v1/ServiceMonitor", "cert-manager.io/v1/Issuer")]
    # Rendered as the install the local jobs push as, so the objective series is theirs.
    namespace, release = LOCAL_RELEASE.split("/")
    done = subprocess.run(
        [
            str(helm),
            "template",
            release,
            str(ROOT / "charts" / "tidemark"),
            "--namespace",
            namespace,
            *apis,
            "--set",
            "kafka.external.enabled=true",
            "--set",
            "kafka.external.bootstrapServers=x:9092",
            "--set",
            "kafka.external.securityProtocol=PLAINTEXT",  # no login to name: only the rules are wanted
            "--set",
            "cassandra.external.enabled=true",
            "--set",
            "cassandra.external.hosts=x",
            "--set",
            "cassandra.external.existingSecret=x",
            "--set",
            "cassandra.external.adminSecret=x",
            "--show-only",
            "templates/monitoring/monitors.yaml",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise StackError(f"prometheus: rendering the chart's rules failed:\n{done.stderr}")
    rule = next(d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "PrometheusRule")
    return write(STACK / "conf" / "rules.yaml", yaml.safe_dump({"groups": rule["spec"]["groups"]}))


def prepare_prometheus() -> list[str]:
    rules = render_rules()
    conf = write(
        STACK / "conf" / "prometheus.yml",
        f"""\
global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files: [{rules}]
scrape_configs:
  - job_name: pushgateway
    # Jobs push their own job/instance labels; keep them.
    honor_labels: true
    static_configs: [{{targets: ["{HOST}:{PORTS["pushgateway"]}"]}}]
  - job_name: producer
    # Every stream's producer, as the demo starts them, labelled with the install as the
    # chart's monitor selects them all and labels them.
    static_configs:
      - targets: {json.dumps([f"{HOST}:{p}" for p in producer_metrics_ports()])}
        labels: {{release: {json.dumps(LOCAL_RELEASE)}}}
""",
    )
    return [
        "prometheus",
        f"--config.file={conf}",
        f"--storage.tsdb.path={STACK / 'data' / 'prometheus'}",
        f"--web.listen-address={HOST}:{PORTS['prometheus']}",
        "--storage.tsdb.retention.time=2d",
    ]
