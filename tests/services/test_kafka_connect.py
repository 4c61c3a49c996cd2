"""A Kafka Connect worker (distributed mode) runs a FileStream source connector into a topic."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from autograder.services.base import wait_until

pytestmark = [pytest.mark.services("kafka", "kafka-connect"), pytest.mark.timeout(180)]


def _request(method: str, url: str, body: object | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def test_file_source_connector(stack: dict[str, str], tmp_path: Path) -> None:
    from confluent_kafka import Consumer

    url = stack["KAFKA_CONNECT_URL"]
    plugins = [p["class"] for p in _request("GET", f"{url}/connector-plugins")]  # type: ignore[union-attr]
    assert "org.apache.kafka.connect.file.FileStreamSourceConnector" in plugins
    src = tmp_path / "events.txt"
    src.write_text("".join(f"line-{i}\n" for i in range(5)))
    _request(
        "POST",
        f"{url}/connectors",
        {
            "name": "file-source",
            "config": {
                "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
                "file": str(src),
                "topic": "ingest-lines",
                "tasks.max": "1",
            },
        },
    )
    consumer = Consumer(
        {"bootstrap.servers": stack["KAFKA_BOOTSTRAP"], "group.id": "connect-test", "auto.offset.reset": "earliest"}
    )
    got: list[str] = []

    def read() -> bool:
        if not got:
            consumer.subscribe(["ingest-lines"])
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            got.append(json.loads(msg.value()))
        return len(got) == 5

    try:
        wait_until(read, timeout=90, what="connector output")
    finally:
        consumer.close()
    assert got == [f"line-{i}" for i in range(5)]
