from __future__ import annotations

import json

from jobs.passwords import changes, parse_plan, passwords_for

PLAN = json.dumps(
    {
        "namespace": "ns",
        "secrets": [
            {"name": "db", "data": {"root-password": "${password:root}", "app-password": "${password:app}"}},
            {"name": "db-app", "labels": {"a": "b"}, "data": {"password": "${password:app}"}},
            {"name": "grafana", "data": {"ds.yaml": 'user: g\npassword: "${password:grafana}"\n'}},
        ],
        "sources": [{"password": "grafana", "secret": "mine", "key": "grafana-password"}],
    }
)


def test_should_make_each_password_once_and_put_it_wherever_it_is_named() -> None:
    _, plan, sources = parse_plan(PLAN)
    passwords = passwords_for(plan, {}, sources)
    assert set(passwords) == {"root", "app", "grafana"}
    assert all(len(p) == 24 and p.isalnum() for p in passwords.values())
    made = {secret.name: data for action, secret, data in changes(plan, {}, passwords) if action == "create"}
    assert made["db-app"] == {"password": made["db"]["app-password"]}
    assert made["grafana"]["ds.yaml"] == f'user: g\npassword: "{passwords["grafana"]}"\n'


def test_should_keep_what_exists_and_only_add_what_is_missing() -> None:
    _, plan, sources = parse_plan(PLAN)
    live = {"db": {"app-password": "kept"}, "db-app": {"password": "kept"}, "mine": {"grafana-password": "theirs"}}
    passwords = passwords_for(plan, live, sources)
    assert passwords["app"] == "kept" and passwords["grafana"] == "theirs"
    todo = [(action, secret.name, data) for action, secret, data in changes(plan, live, passwords)]
    assert todo == [
        ("add", "db", {"root-password": passwords["root"]}),
        ("create", "grafana", {"ds.yaml": 'user: g\npassword: "theirs"\n'}),
    ]
    assert (
        changes(
            plan,
            {
                "db": {"root-password": "r", "app-password": "a"},
                "db-app": {"password": "a"},
                "grafana": {"ds.yaml": "x"},
            },
            passwords,
        )
        == []
    ), "a second run changes nothing"
