"""A real Kafka 4.x broker (KRaft): keyed messages through a consumer group, with three client libraries."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

pytestmark = [
    pytest.mark.services("kafka"),
    pytest.mark.timeout(180),
    # kafka-python loads its protocol schemas with a deprecated importlib.resources API.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

KEYS = [f"user-{i}" for i in range(6)]
N = 30


def _messages() -> list[tuple[bytes, bytes]]:
    return [(KEYS[i % len(KEYS)].encode(), f"event-{i}".encode()) for i in range(N)]


def _create_topic(bootstrap: str, partitions: int = 3) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"orders-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)
    md = admin.list_topics(topic, timeout=10)
    assert len(md.topics[topic].partitions) == partitions
    return topic


def _check(records: list[tuple[bytes, bytes, int]]) -> None:
    """All messages arrive, and each key always lands on one partition."""
    assert sorted(v for _, v, _ in records) == sorted(v for _, v in _messages())
    parts: dict[bytes, set[int]] = {}
    for k, _, p in records:
        parts.setdefault(k, set()).add(p)
    assert all(len(p) == 1 for p in parts.values())
    assert len({p for ps in parts.values() for p in ps}) > 1  # keys spread over partitions


def test_confluent_kafka(stack: dict[str, str]) -> None:
    from confluent_kafka import Consumer, Producer

    bootstrap = stack["KAFKA_BOOTSTRAP"]
    topic = _create_topic(bootstrap)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for k, v in _messages():
        producer.produce(topic, key=k, value=v)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: list[tuple[bytes, bytes, int]] = []
    deadline = time.monotonic() + 60
    while len(got) < N and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            got.append((msg.key(), msg.value(), msg.partition()))
    consumer.commit(asynchronous=False)
    consumer.close()
    _check(got)


def test_kafka_python(stack: dict[str, str]) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    bootstrap = stack["KAFKA_BOOTSTRAP"]
    topic = _create_topic(bootstrap)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for k, v in _messages():
        producer.send(topic, key=k, value=v)
    producer.flush(30)
    producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=20000,
    )
    got = []
    for msg in consumer:
        got.append((msg.key, msg.value, msg.partition))
        if len(got) == N:
            break
    consumer.commit()
    consumer.close()
    _check(got)


def test_aiokafka(stack: dict[str, str]) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    bootstrap = stack["KAFKA_BOOTSTRAP"]
    topic = _create_topic(bootstrap)

    async def run() -> list[tuple[bytes, bytes, int]]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for k, v in _messages():
                await producer.send_and_wait(topic, key=k, value=v)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=f"g-{topic}", auto_offset_reset="earliest"
        )
        await consumer.start()
        got = []
        try:
            async with asyncio.timeout(60):
                async for msg in consumer:
                    got.append((msg.key, msg.value, msg.partition))
                    if len(got) == N:
                        break
            await consumer.commit()
        finally:
            await consumer.stop()
        return got

    _check(asyncio.run(run()))
