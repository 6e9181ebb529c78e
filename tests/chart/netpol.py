"""Which connections a set of NetworkPolicies lets through, by the rules of the Kubernetes API
(no CNI runs here to enforce them): a pod that some policy selects for a direction takes only
the traffic one of those policies' rules allows; a pod no policy selects takes any.

Pods are labels in a namespace; an address outside the cluster is a pod with no namespace,
matched only by a rule without peers (or by an ipBlock, which these tests treat as "anywhere").
Named ports are not modelled: every policy here uses numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Policy = Mapping[str, Any]


@dataclass(frozen=True)
class Pod:
    name: str
    namespace: str | None  # None: an address outside the cluster
    labels: Mapping[str, str] = field(default_factory=dict)

    def namespace_labels(self) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": self.namespace} if self.namespace else {}


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector; an empty one selects everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not ok:
            return False
    return True


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, other: Pod) -> bool:
    if "ipBlock" in peer:
        return True
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], other.namespace_labels()):
            return False
    elif other.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], other.labels)


def _port_matches(ports: list[Mapping[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    return any(
        p.get("protocol", "TCP") == protocol
        and ("port" not in p or p["port"] == port or p.get("endPort", -1) >= port > p["port"])
        for p in ports
    )


@dataclass(frozen=True)
class Peer:
    """The other end of a connection, seen from the pod whose policies judge it."""

    pod: Pod
    port: int
    protocol: str


def _rules_allow(rules: list[Mapping[str, Any]], peer_key: str, namespace: str, peer: Peer) -> bool:
    for rule in rules:
        peers = rule.get(peer_key)
        if peers and not any(_peer_matches(p, namespace, peer.pod) for p in peers):
            continue
        if _port_matches(rule.get("ports"), peer.port, peer.protocol):
            return True
    return False


def _direction_allows(policies: list[Policy], direction: str, subject: Pod, peer: Peer) -> bool:
    """Whether `subject`'s policies of this direction (Ingress or Egress) let `peer` through."""
    if subject.namespace is None:
        return True  # nothing outside the cluster is policed here
    chosen = [
        p
        for p in policies
        if p["metadata"].get("namespace", subject.namespace) == subject.namespace
        and direction in p["spec"].get("policyTypes", ["Ingress"])
        and selects(p["spec"].get("podSelector"), subject.labels)
    ]
    if not chosen:
        return True
    key, peer_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    return any(_rules_allow(p["spec"].get(key) or [], peer_key, subject.namespace, peer) for p in chosen)


def allowed(policies: list[Policy], source: Pod, target: Pod, port: int, protocol: str = "TCP") -> bool:
    """Whether `source` may open a connection to `target` on `port`."""
    return _direction_allows(policies, "Egress", source, Peer(target, port, protocol)) and _direction_allows(
        policies, "Ingress", target, Peer(source, port, protocol)
    )
