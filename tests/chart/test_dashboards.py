"""The dashboards as each install ships them: a uid, a title and default picks of its own, every
query following the install picked, and the freshness objective drawn from the alert's value."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from observability.dashboards import BUSINESS, PIPELINE
from producer.streams import PRODUCERS

from .helm_template import by_kind, named, render_chart
from .test_templates import planned

INSTALLS = (("t", "tidemark"), ("t", "staging"), ("u", "tidemark"))


def boards(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each dashboard an install ships, by the file the Grafana sidecar writes."""
    return {
        file: json.loads(text)
        for cm in by_kind(docs, "ConfigMap")
        if "grafana_dashboard" in cm["metadata"]["labels"]
        for file, text in cm["data"].items()
    }


def datasource(docs: list[dict[str, Any]], release: str) -> dict[str, Any]:
    """The install's Grafana datasource, as the passwords hook's plan writes it."""
    secret = planned(docs, release)[f"{release}-tidemark-datasources"]
    (mysql,) = yaml.safe_load(secret["tidemark-datasources.yaml"])["datasources"]
    return dict(mysql)


def test_installs_sharing_a_grafana_never_collide() -> None:
    files: dict[str, str] = {}
    uids: set[str] = set()
    sources: set[tuple[str, str]] = set()
    for release, namespace in INSTALLS:
        docs = render_chart(release=release, namespace=namespace)
        shipped = boards(docs)
        assert len(shipped) == 2
        for file, board in shipped.items():
            assert file not in files, f"{release} in {namespace} writes {file} as {files[file]} does"
            files[file] = f"{release} in {namespace}"
            assert file == f"{board['uid']}.json"
            assert len(board["uid"]) <= 40, board["uid"]  # Grafana's limit
            assert board["title"].endswith(f" · {namespace}/{release}")
            uids.add(board["uid"])
        source = datasource(docs, release)
        assert len(source["uid"]) <= 40
        sources.add((source["uid"], source["name"]))
    assert len(uids) == 2 * len(INSTALLS)
    assert len({uid for uid, _ in sources}) == len({name for _, name in sources}) == len(INSTALLS)


def test_each_install_picks_itself_by_default() -> None:
    docs = render_chart(release="u", namespace="staging")
    source = datasource(docs, "u")
    assert source["name"] == "tidemark staging/u"
    for board in boards(docs).values():
        current = {v["name"]: v["current"] for v in board["templating"]["list"]}
        if board["uid"].startswith(BUSINESS.uid):
            # The business panels read the datasource the variable picks: this install's.
            assert current == {"release": {"text": source["name"], "value": source["uid"]}}
            (variable,) = board["templating"]["list"]
            assert re.search(variable["regex"].strip("/"), source["name"]), "the variable lists the datasource"
            assert {p["datasource"]["uid"] for p in board["panels"]} == {"${release}"}
        else:
            assert current == {
                "namespace": {"text": ["staging"], "value": ["staging"]},
                "release": {"text": ["staging/u"], "value": ["staging/u"]},
            }


def test_every_pipeline_query_follows_both_variables() -> None:
    (board,) = [b for b in boards(render_chart()).values() if b["uid"].startswith(PIPELINE.uid)]
    for panel in board["panels"]:
        for target in panel["targets"]:
            assert 'namespace=~"$namespace"' in target["expr"], panel["title"]
            assert 'release=~"$release"' in target["expr"], panel["title"]


def test_freshness_objective_is_the_value_the_alert_holds_to() -> None:
    docs = render_chart({"monitoring": {"freshnessSloSeconds": 321}}, release="u", namespace="staging")
    rules = {
        r.get("record") or r["alert"]: r
        for g in named(docs, "PrometheusRule", "u-tidemark-alerts")["spec"]["groups"]
        for r in g["rules"]
    }
    objective = rules["tidemark:freshness_slo_seconds"]
    assert objective["expr"] == "vector(321)"
    assert objective["labels"] == {"namespace": "staging", "release": "staging/u"}
    assert rules["TidemarkFreshnessOverSlo"]["expr"] == "tidemark:freshness_seconds > 321"
    (panel,) = [p for p in PIPELINE.panels if p.title == "Freshness vs objective"]
    assert [line.query.split("{")[0] for line in panel.also] == ["tidemark:freshness_slo_seconds"]


def test_every_producer_is_scraped_for_the_produce_rate_panel() -> None:
    docs = render_chart()
    (monitor,) = [m for m in by_kind(docs, "PodMonitor") if m["metadata"]["name"] == "t-tidemark-producer"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    producers = [d for d in by_kind(docs, "Deployment") if "-producer-" in d["metadata"]["name"]]
    assert {d["metadata"]["labels"]["tidemark.io/stream"] for d in producers} == set(PRODUCERS)
    for deployment in producers:
        pod = deployment["spec"]["template"]
        assert selector.items() <= pod["metadata"]["labels"].items(), deployment["metadata"]["name"]
        ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        assert endpoint["port"] in ports, deployment["metadata"]["name"]
