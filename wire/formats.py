"""The wire contracts: what producers send, as data both the producer and the streams read.

No Spark here: the producer image imports this module without pyspark.
"""

from __future__ import annotations

import struct
from typing import Any, Literal

BeaconType = Literal["timeuuid", "int", "double", "text"]

# The topic each stream (each part of a family) is sent to unless configured otherwise: the
# seeds' names, so their producers point at tidemark unchanged. The jobs' specs, the producers'
# settings and the chart's values all start from these (tests/unit/test_streams.py checks the chart).
TOPICS = {
    "tracking": "tidemark.tracking",
    "ads": "ad_topic",
    "orders": "orderstopicdemo",
    "userlogs_session": "user_session_logs",
    "userlogs_auth": "user_auth_logs",
    "userlogs_activity": "user_activity_logs",
}

# The tracking beacon as producers send it (DESIGN 4.1), with its type in the raw table.
BEACON_FIELDS: dict[str, BeaconType] = {
    "create_time": "timeuuid",
    "bid": "double",
    "campaign_id": "int",
    "group_id": "int",
    "job_id": "int",
    "publisher_id": "int",
    "custom_track": "text",
    "ts": "text",
    "tz": "int",
    "bn": "text",
    "cd": "int",
    "de": "text",
    "dl": "text",
    "dt": "text",
    "ed": "text",
    "ev": "int",
    "id": "text",
    "md": "text",
    "rl": "text",
    "sr": "text",
    "ua": "text",
    "uid": "text",
    "utm_campaign": "text",
    "utm_content": "text",
    "utm_medium": "text",
    "utm_source": "text",
    "utm_term": "text",
    "v": "int",
    "vp": "text",
}

# custom_track values that the hourly table counts; empty means a page view (impression).
COUNTED_TRACKS = {
    "click": "clicks",
    "conversion": "conversion",
    "qualified": "qualified_application",
    "unqualified": "disqualified_application",
}


# The ad platform's Avro record (topic `ad_topic`), framed in the Confluent wire format.
AD_EVENT_SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "AdEvent",
    "fields": [
        {"name": "ad_id", "type": "string"},
        {"name": "timestamp", "type": "string"},
        {"name": "clicks", "type": "int"},
        {"name": "views", "type": "int"},
        {"name": "cost", "type": "double"},
    ],
}


def confluent_frame(schema_id: int, body: bytes) -> bytes:
    """Byte 0, the schema id as 4 big-endian bytes, then the Avro binary body."""
    return b"\x00" + struct.pack(">I", schema_id) + body
