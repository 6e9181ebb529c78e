"""The local Kafka's cluster id is handed to the storage tool as a separate argument."""

import base64

from local.servers.kafka import uuid_for_kafka


def test_cluster_ids_never_look_like_options():
    # One random id in 64 starts with "-"; 2,000 draws miss that with odds of about 1e-14.
    ids = [uuid_for_kafka() for _ in range(2000)]
    assert not [i for i in ids if i.startswith("-")]
    assert len(set(ids)) == len(ids)
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
