"""The chart's alert rules, rendered exactly as shipped, checked and unit-tested by promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from jobs.settings import LOCAL_RELEASE

from .helm_template import by_kind, render_chart

ALERT_TESTS = Path(__file__).parent / "alerts" / "tidemark_test.yaml"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    if shutil.which("promtool") is None:
        pytest.fail("promtool is missing: run `make system`")
    rule = by_kind(render_chart(), "PrometheusRule")[0]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    shutil.copy(ALERT_TESTS, tmp_path / "tidemark_test.yaml")
    return tmp_path


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_should_pass_promtool_check_rules(rules_dir: Path) -> None:
    done = promtool("check", "rules", "rules.yaml", cwd=rules_dir)
    assert done.returncode == 0, done.stdout + done.stderr


def test_should_fire_and_stay_quiet_as_the_unit_tests_expect(rules_dir: Path) -> None:
    done = promtool("test", "rules", "tidemark_test.yaml", cwd=rules_dir)
    assert done.returncode == 0, done.stdout + done.stderr


def test_should_cover_every_alert_with_a_test() -> None:
    rule = by_kind(render_chart(), "PrometheusRule")[0]
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    tested = {
        case["alertname"]
        for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    quiet = {
        case["alertname"]
        for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if not case["exp_alerts"]
    }
    assert alerts == tested, f"alerts without a firing test: {alerts - tested}"
    assert alerts == quiet, f"alerts without a quiet test: {alerts - quiet}"


def test_should_give_the_local_prometheus_the_same_rules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """local/stack.py renders the chart against a throwaway external Kafka for its Prometheus;
    a value that render needs (a Kafka login, say) would stop `make stack-up` on a fresh stack."""
    from local import stack

    monkeypatch.setattr(stack, "STACK", tmp_path)
    local = yaml.safe_load(stack.render_rules().read_text())
    # As the install the local jobs push as, so the objective series is theirs.
    namespace, release = LOCAL_RELEASE.split("/")
    shipped = by_kind(render_chart(release=release, namespace=namespace), "PrometheusRule")[0]["spec"]
    assert local == {"groups": shipped["groups"]}
