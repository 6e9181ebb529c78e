"""The producer's one settings class, read from TIDEMARK_* environment variables."""

from __future__ import annotations

import sys
from typing import Any

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import SettingsConfigDict

from wire.env import ENV_PREFIX, describe, given, secrets_dir
from wire.formats import TOPICS
from wire.kafka_auth import KafkaAccess
from wire.store_tls import MysqlTls

# The per-part topic variables (name, default), read through `topics` (NESTED: an error at
# ("topics", "ads") names TIDEMARK_ADS_TOPIC).
TOPIC_VARIABLES = [(f"{part}_topic", default) for part, default in TOPICS.items()]
NESTED = {"topics": ("topic",)}


class ProducerSettings(KafkaAccess, MysqlTls):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:19092"
    # The producer's Kafka user (KafkaAccess): it may write the streams' topics, nothing else.
    kafka_username: str = "tidemark-producer"
    kafka_password: SecretStr = SecretStr("tidemark-producer")
    # Which stream this producer feeds (producer/streams/): one producer process per stream.
    producer_stream: str = "tracking"
    # Each part's topic by its name in wire.formats.TOPICS: TIDEMARK_<PART>_TOPIC, the variable
    # the jobs read too, with the seeds' topics by default (`_topics`). Not a field per part, so
    # a topic added to TOPICS needs no line here.
    topics: dict[str, str] = Field(default_factory=dict)
    # Confluent-API schema registry: the ads producer registers AdEvent there and frames its id.
    schema_registry_url: str = ""
    producer_ads: int = Field(default=50, ge=1, description="distinct ad ids the ads producer uses")
    producer_ads_duplicate_rate: float = Field(default=0.5, ge=0, le=1)
    producer_ads_backdate_max_seconds: float = Field(default=1800.0, ge=0)
    # The orders producer: customers it upserts into shop.customers at start (0 = none, e.g.
    # when `python -m producer load-customers FILE.csv` loaded real ones), and how often it
    # moves a customer to another state (0 = never).
    producer_customers: int = Field(default=200, ge=0)
    producer_move_customer_every_seconds: float = Field(default=0.0, ge=0)
    shop_database: str = Field(default="shop", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")

    # What to send: generated beacons at a rate, or an export of a tracking table.
    producer_replay_file: str = ""
    producer_rate: float = Field(default=200.0, ge=0, description="events/s; 0 means as fast as Kafka takes")
    producer_duration_seconds: float = Field(default=0.0, ge=0, description="0 runs until stopped")
    producer_max_events: int = Field(default=0, ge=0, description="0 means no limit")
    producer_seed: int = 7
    producer_jobs: int = Field(default=200, ge=1)
    producer_publishers: int = Field(default=20, ge=1)
    producer_late_rate: float = Field(default=0.03, ge=0, le=1)
    producer_late_max_hours: float = Field(default=6.0, ge=1)
    producer_duplicate_rate: float = Field(default=0.02, ge=0, le=1)
    producer_null_bid_rate: float = Field(default=0.1, ge=0, le=1)
    producer_ed_only_rate: float = Field(default=0.05, ge=0, le=1)
    producer_unattributed_rate: float = Field(default=0.02, ge=0, le=1)
    producer_other_track_rate: float = Field(default=0.03, ge=0, le=1)

    # Throughput without loss: acks=all and idempotence are fixed; these tune batching.
    producer_linger_ms: int = Field(default=20, ge=0)
    producer_batch_bytes: int = Field(default=262_144, ge=1024)
    producer_compression: str = Field(default="lz4", pattern="^(none|gzip|lz4|zstd|snappy)$")
    producer_metrics_port: int = Field(default=18000, ge=0, lt=65536, description="0 serves no /metrics")

    # The operational recruit tables: seeded at start, and some jobs changed now and then.
    producer_seed_recruit: bool = False
    producer_recruit_csv_dir: str = ""
    producer_mutate_jobs_every_seconds: float = Field(default=0.0, ge=0)
    mysql_host: str = "127.0.0.1"
    mysql_port: int = Field(default=13306, gt=0, lt=65536)
    # The producers' account: reads and writes the operational databases (recruit, shop) only.
    mysql_user: str = "tidemark_producer"
    mysql_password: SecretStr = SecretStr("tidemark_producer")
    recruit_database: str = Field(default="recruit", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")

    @model_validator(mode="before")
    @classmethod
    def _topics(cls, data: Any) -> Any:
        """Fills `topics` from TIDEMARK_<PART>_TOPIC or `<part>_topic=` arguments; entries given
        in `topics` itself win."""
        values = given(data)
        found = {part: values.get(f"{part}_topic", default) for part, default in TOPICS.items()}
        explicit = dict(data).get("topics")
        return {**data, "topics": {**found, **explicit} if isinstance(explicit, dict) else found}

    @model_validator(mode="after")
    def _rates_fit(self) -> ProducerSettings:
        shares = self.producer_ed_only_rate + self.producer_unattributed_rate
        if shares > 1:
            raise ValueError("TIDEMARK_PRODUCER_ED_ONLY_RATE + TIDEMARK_PRODUCER_UNATTRIBUTED_RATE exceed 1")
        return self


def variables() -> set[str]:
    """Every TIDEMARK_* variable the producer reads."""
    own = {name for name in ProducerSettings.model_fields if name not in NESTED}
    return {f"{ENV_PREFIX}{name.upper()}" for name in own | {name for name, _ in TOPIC_VARIABLES}}


def load() -> ProducerSettings:
    """Settings from the environment; a bad one stops the process naming the variable."""
    try:
        return ProducerSettings(_secrets_dir=secrets_dir())
    except ValidationError as e:
        sys.exit(describe(e, NESTED))
