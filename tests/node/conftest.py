"""The node tier's one release: the chart installed on the local node (local/node.py) against
the local stack, by the same code as `make node-deploy` (local/node_release.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from local import apiserver, kafka_users, node, node_release, stack, supervisor
from tests.apiserver.kube import Cluster

NAMESPACE = node_release.NAMESPACE
RELEASE = node_release.RELEASE


@pytest.fixture(scope="session", autouse=True)
def stack_is_up() -> None:
    down = [s.name for s in stack.SERVICES if s.pid() is None or not s.ready()]
    if down:
        pytest.fail(f"the local stack is not up ({', '.join(down)}): run `make stack-up`")


@dataclass(frozen=True)
class Release:
    """The installed release, seen through ./bin/kubectl and ./bin/helm."""

    cluster: Cluster

    def pods(self, selector: str = "") -> list[dict[str, Any]]:
        return self.cluster.get("pods", NAMESPACE, *(["-l", selector] if selector else []))

    def component(self, name: str) -> str:
        return f"app.kubernetes.io/component={name}"

    def helm(self, *args: str) -> str:
        done = self.cluster.helm(*args, "--namespace", NAMESPACE)
        assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def kubectl(self, *args: str) -> str:
        done = self.cluster.kubectl("-n", NAMESPACE, *args)
        assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def dump(self) -> str:
        """What a person looks at when a wait runs out: Pods, events, the kubelet's log tail."""
        pods = self.cluster.kubectl("get", "pods", "-n", NAMESPACE, "-o", "wide").stdout
        return (
            f"{pods}\n{self.cluster.events(NAMESPACE)[-4000:]}\nkubelet:\n{supervisor.tail(node.PROCESSES[2].log, 30)}"
        )


@pytest.fixture(scope="session")
def release() -> Iterator[Release]:
    """A fresh release: an earlier one and its data removed, the node started, the images
    built and imported, then `helm upgrade --install` and every rollout. At the end its data is
    dropped and the node stopped."""
    try:
        node_release.deploy(fresh=True)
    except (node_release.ReleaseError, node.NodeError, supervisor.SupervisorError) as e:
        pytest.fail(f"the node release did not deploy: {e}")
    yield Release(Cluster(apiserver.KUBECONFIG))
    node_release.remove()
    # The host as the tier found it: the kubelet's sysctls, cgroups, mounts and paths undone.
    node.down()


def everything_in(topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every record the topic holds now (what Kafka acknowledged), as (key, value)."""
    consumer = KafkaConsumer(**kafka_users.kafka_python(f"{stack.HOST}:{stack.PORTS['kafka']}"), group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        got: list[tuple[bytes | None, bytes]] = []
        deadline = time.monotonic() + 120
        while any(consumer.position(p) < ends[p] for p in partitions):
            assert time.monotonic() < deadline, f"reading {topic} to its end took over 120s"
            for batch in consumer.poll(timeout_ms=1000).values():
                got += [(r.key, r.value) for r in batch]
        return got
    finally:
        consumer.close()
