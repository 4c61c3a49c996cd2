"""Three KRaft nodes: RF 3 / min.insync.replicas 2 survives one stopped broker, with a shrunken ISR."""

from __future__ import annotations

import time

import pytest

from autograder.services import kafka
from autograder.services.base import wait_until

pytestmark = [pytest.mark.services("kafka-cluster"), pytest.mark.timeout(240)]


def _isr(admin, topic: str) -> dict[int, list[int]]:
    md = admin.list_topics(topic, timeout=10)
    return {p.id: sorted(p.isrs) for p in md.topics[topic].partitions.values()}


def test_acks_all_with_one_broker_down(stack: dict[str, str]) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    bootstrap = stack["KAFKA_CLUSTER_BOOTSTRAP"]
    assert len(bootstrap.split(",")) == 3
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = "payments-replicated"
    new = NewTopic(topic, num_partitions=3, replication_factor=3, config={"min.insync.replicas": "2"})
    admin.create_topics([new])[topic].result(30)
    wait_until(lambda: all(len(i) == 3 for i in _isr(admin, topic).values()), timeout=30, what="full ISR")

    kafka.stop_broker(3)
    try:
        assert kafka.brokers()[3]["running"] is False
        # The ISR shrinks to the two live brokers...
        wait_until(lambda: all(i == [1, 2] for i in _isr(admin, topic).values()), timeout=60, what="ISR shrink")
        # ...and acks=all writes still succeed, since 2 >= min.insync.replicas.
        producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": 30000})
        errors: list[object] = []
        for i in range(20):
            producer.produce(topic, key=f"k{i}".encode(), value=b"v", on_delivery=lambda e, m: e and errors.append(e))
        assert producer.flush(60) == 0
        assert errors == []
    finally:
        t = time.monotonic()
        kafka.start_broker(3)
        assert time.monotonic() - t < 60
    wait_until(lambda: all(len(i) == 3 for i in _isr(admin, topic).values()), timeout=60, what="ISR regrow")
