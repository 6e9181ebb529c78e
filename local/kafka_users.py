"""The local stand-in for the chart's KafkaUser resources: one SCRAM user per client, with
ACLs for exactly what it does, so the local broker refuses what Strimzi's would.

The users exist from the broker's first start (local/stack.py formats its storage with their
credentials); the ACLs are granted here, per topic, as topics come into being: the streams'
topics when the stack starts (and each test's, bench's or demo's own, local/topics.py), a CDC
prefix when a Debezium connector is registered on it. Passwords are local-only, so plain.
"""

from __future__ import annotations

from collections.abc import Iterable

# The ACL types sit in a private module that confluent_kafka.admin re-exports without __all__.
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from pydantic import SecretStr

from local.tls import CA
from wire.kafka_auth import KafkaAccess, java_options, kafka_python_options, librdkafka_options

ADMIN = "admin"  # the broker's super user: the stack's own tooling, never a tidemark process
PRODUCER = "tidemark-producer"
JOBS = "tidemark-jobs"
CONNECT = "tidemark-connect"
USERS = (ADMIN, PRODUCER, JOBS, CONNECT)
# The jobs' Spark consumers name their groups with this prefix (TIDEMARK_KAFKA_GROUP_PREFIX).
JOBS_GROUP_PREFIX = "tidemark-jobs"
# Kafka Connect's group (a prefix: the image test runs a worker of its own) and the prefix of
# its internal topics (local/stack.py's worker).
CONNECT_GROUP = "tidemark-connect"
CONNECT_INTERNAL_PREFIX = "_connect-"


def password(user: str) -> str:
    return user


def access(user: str) -> KafkaAccess:
    """`user`'s login to the local broker, as a process's settings would give it (SCRAM over
    TLS, verifying the stack's CA); built, not read from the environment."""
    return KafkaAccess.model_construct(
        kafka_username=user, kafka_password=SecretStr(password(user)), kafka_ca_file=str(CA)
    )


def librdkafka(bootstrap: str, user: str = ADMIN) -> dict[str, str]:
    """confluent-kafka settings for a client of the local broker as `user`."""
    return {"bootstrap.servers": bootstrap, **librdkafka_options(access(user))}


def kafka_python(bootstrap: str, user: str = ADMIN) -> dict[str, str]:
    """kafka-python keyword arguments for a client of the local broker as `user`."""
    return {"bootstrap_servers": bootstrap, **kafka_python_options(access(user))}


def java_client(user: str) -> dict[str, str]:
    """A Java client's properties as `user` (Connect's worker, its connectors' clients)."""
    return java_options(access(user))


def admin_client(bootstrap: str) -> AdminClient:
    return AdminClient({**librdkafka(bootstrap), "log_level": 3})


def _allow(
    user: str, kind: ResourceType, name: str, pattern: ResourcePatternType, operations: Iterable[AclOperation]
) -> list[AclBinding]:
    return [
        AclBinding(kind, name, pattern, f"User:{user}", "*", operation, AclPermissionType.ALLOW)
        for operation in operations
    ]


def stream_topic_acls(topic: str) -> list[AclBinding]:
    """A stream's topic, as the chart's KafkaUsers see it: the producer writes, the jobs read."""
    literal = ResourcePatternType.LITERAL
    return [
        *_allow(PRODUCER, ResourceType.TOPIC, topic, literal, (AclOperation.WRITE, AclOperation.DESCRIBE)),
        *_allow(JOBS, ResourceType.TOPIC, topic, literal, (AclOperation.READ, AclOperation.DESCRIBE)),
    ]


def cdc_acls(prefix: str) -> list[AclBinding]:
    """Debezium's topics under `prefix` (its change topics <prefix>.<db>.<table>, the schema-change
    topic <prefix> and the schema history): Connect owns them, the jobs read them."""
    prefixed = ResourcePatternType.PREFIXED
    connect_ops = (
        AclOperation.READ,
        AclOperation.WRITE,
        AclOperation.DESCRIBE,
        AclOperation.CREATE,
        AclOperation.DESCRIBE_CONFIGS,
    )
    return [
        *_allow(CONNECT, ResourceType.TOPIC, prefix, prefixed, connect_ops),
        # Debezium's schema-history consumer joins no group but names one.
        *_allow(CONNECT, ResourceType.GROUP, prefix, prefixed, (AclOperation.READ, AclOperation.DESCRIBE)),
        *_allow(JOBS, ResourceType.TOPIC, prefix, prefixed, (AclOperation.READ, AclOperation.DESCRIBE)),
    ]


def base_acls() -> list[AclBinding]:
    """What the clients need whatever their topics: the jobs' groups, Connect's own topics and
    group, and the cluster's defaults Connect and Debezium read before creating a topic."""
    prefixed, literal = ResourcePatternType.PREFIXED, ResourcePatternType.LITERAL
    return [
        *_allow(JOBS, ResourceType.GROUP, JOBS_GROUP_PREFIX, prefixed, (AclOperation.READ, AclOperation.DESCRIBE)),
        *_allow(
            CONNECT,
            ResourceType.TOPIC,
            CONNECT_INTERNAL_PREFIX,
            prefixed,
            (
                AclOperation.READ,
                AclOperation.WRITE,
                AclOperation.DESCRIBE,
                AclOperation.CREATE,
                AclOperation.DESCRIBE_CONFIGS,
            ),
        ),
        *_allow(CONNECT, ResourceType.GROUP, CONNECT_GROUP, prefixed, (AclOperation.READ, AclOperation.DESCRIBE)),
        *_allow(CONNECT, ResourceType.BROKER, "kafka-cluster", literal, (AclOperation.DESCRIBE_CONFIGS,)),
    ]


def grant(bootstrap: str, acls: list[AclBinding]) -> None:
    """Creates the ACLs (an existing one is left as it is)."""
    if not acls:
        return
    admin = admin_client(bootstrap)  # held: the futures fail if the client is collected first
    for future in admin.create_acls(acls, request_timeout=30).values():
        future.result()
