"""Generates charts/tidemark/values.schema.json from values.yaml: the values file is the one
source, the schema adds types (inferred from the defaults), the rules below, and rejects
every key values.yaml does not declare.

    python scripts/values_schema.py          # write the schema
    python scripts/values_schema.py --check  # exit 1 if the committed schema is stale
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, get_args

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from jobs.settings import CassandraConsistency  # the levels the jobs accept

CHART = Path(__file__).resolve().parent.parent / "charts" / "tidemark"

# Maps whose keys are the user's: environment variables and Kubernetes resource blocks.
FREE_MAPS = {"env": {"type": "string"}, "labels": {"type": "string"}}
RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "requests": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
        "limits": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
    },
    "required": ["requests", "limits"],
}
RULES: dict[str, dict[str, Any]] = {
    "spark.mode": {"enum": ["local", "kubernetes"]},
    "shards": {"minimum": 1, "maximum": 1024},
    "cassandra.replicationFactor": {"minimum": 1},
    "cassandra.consistency.read": {"enum": list(get_args(CassandraConsistency))},
    "cassandra.consistency.write": {"enum": list(get_args(CassandraConsistency))},
    "kafka.replicas": {"minimum": 1},
    "monitoring.rejectRatio": {"minimum": 0, "maximum": 1},
    "jobs.checkpoints.accessModes": {"items": {"enum": ["ReadWriteOnce", "ReadWriteMany", "ReadWriteOncePod"]}},
    # NetworkPolicyEgressRule objects; the API server checks their fields.
    "networkPolicy.extraEgress": {"items": {"type": "object"}},
}
TAG = {"type": "string", "minLength": 1, "not": {"const": "latest"}}


def schema_of(value: Any, path: str) -> dict[str, Any]:
    name = path.rsplit(".", 1)[-1]
    if name == "resources":
        return RESOURCES
    if name == "tag":
        return TAG
    if name in FREE_MAPS and isinstance(value, dict):
        return {"type": "object", "additionalProperties": FREE_MAPS[name]}
    if isinstance(value, dict):
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": {k: schema_of(v, f"{path}.{k}".lstrip(".")) for k, v in value.items()},
        }
    if isinstance(value, bool):
        out: dict[str, Any] = {"type": "boolean"}
    elif isinstance(value, int):
        out = {"type": "integer"}
    elif isinstance(value, float):
        out = {"type": "number"}
    elif isinstance(value, list):
        out = {"type": "array", "items": {"type": "string"}}
    else:
        out = {"type": "string"}
    out.update(RULES.get(path, {}))
    return out


def generate() -> str:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "title": "tidemark values", **schema_of(values, "")}
    return json.dumps(schema, indent=2) + "\n"


def main(argv: list[str]) -> int:
    target = CHART / "values.schema.json"
    text = generate()
    if "--check" in argv:
        if not target.exists() or target.read_text() != text:
            print(f"{target} is stale: run python scripts/values_schema.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
