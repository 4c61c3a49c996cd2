"""labkit.streaming: partitioning, lag/skew, broker config, Avro compatibility and the in-memory registry.

Everything here is pure logic (no broker); the Kafka-facing helpers run for real in the Module 21 lab.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from labkit import streaming
from labkit.streaming import (
    IncompatibleSchema,
    SchemaRegistry,
    apply_field_aliases,
    broker_properties,
    compatibility_problems,
    consumer_lag,
    decode,
    encode,
    java_partition,
    partition_skew,
)

# The Avro library (Apache `avro`) is what the registry helpers run; skip those tests where it is absent.
needs_avro = pytest.mark.skipif(importlib.util.find_spec("avro") is None, reason="the `avro` package is not installed")

V1 = {
    "type": "record",
    "name": "CardPayment",
    "namespace": "mlops.fraud",
    "fields": [
        {"name": "event_id", "type": "string"},
        {"name": "amount", "type": "double"},
        {"name": "email_domain", "type": ["null", "string"], "default": None},
    ],
}
KEEP = [f for f in V1["fields"] if f["name"] != "email_domain"]
V2_GOOD = {
    **V1,
    "fields": [
        *KEEP,
        {"name": "payer_email_domain", "type": ["null", "string"], "default": None, "aliases": ["email_domain"]},
        {"name": "channel", "type": "string", "default": "unknown"},
    ],
}
V2_NO_DEFAULT = {**V1, "fields": [*V1["fields"], {"name": "channel", "type": "string"}]}
V2_NO_ALIAS = {
    **V1,
    "fields": [*KEEP, {"name": "payer_email_domain", "type": ["null", "string"], "default": None}],
}


def _signed_to_unsigned(value: int) -> int:
    return value & 0xFFFFFFFF


@pytest.mark.parametrize(
    ("key", "java_murmur2"),
    [  # org.apache.kafka.common.utils.UtilsTest#testMurmur2
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ("abc", 479470107),
    ],
)
def test_java_partition_uses_the_java_clients_murmur2(key: str, java_murmur2: int) -> None:
    expected = (_signed_to_unsigned(java_murmur2) & 0x7FFFFFFF) % 6
    assert java_partition(key, 6) == expected
    assert java_partition(key.encode(), 6) == expected


def test_java_partition_is_stable_and_in_range() -> None:
    parts = [java_partition(f"card-{i}", 6) for i in range(500)]
    assert set(parts) == set(range(6)), "500 keys should reach every one of 6 partitions"
    assert parts == [java_partition(f"card-{i}", 6) for i in range(500)]


def test_partition_skew() -> None:
    assert partition_skew({0: 10, 1: 10, 2: 10}) == pytest.approx(1.0)
    assert partition_skew([30, 10, 10, 10]) == pytest.approx(2.0)
    assert partition_skew({}) == 0.0
    assert partition_skew([0, 0]) == 0.0


def test_consumer_lag_is_end_minus_committed() -> None:
    ends = {0: 100, 1: 50, 2: 7}
    assert consumer_lag(ends, {0: 100, 1: 20, 2: None}) == {0: 0, 1: 30, 2: 7}
    assert consumer_lag(ends, {}) == ends, "a partition never committed lags by all its records"
    assert consumer_lag(ends, {0: -1001}) == {0: 100, 1: 50, 2: 7}, "librdkafka's OFFSET_INVALID means no commit"


def test_broker_properties_join_an_existing_quorum(tmp_path: Path) -> None:
    props = broker_properties(4242, 19092, "1@127.0.0.1:9093,2@127.0.0.1:9094", tmp_path)
    assert props["process.roles"] == "broker" and props["node.id"] == 4242
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.voters"].startswith("1@")
    assert props["cordoned.log.dirs"] == str(tmp_path)
    assert "cordoned.log.dirs" not in broker_properties(4242, 19092, "1@h:1", tmp_path, cordoned=False)


def test_kafka_home_prefers_KAFKA_HOME(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "libs").mkdir()
    (tmp_path / "libs" / "kafka_2.13-9.9.9.jar").write_bytes(b"")
    monkeypatch.setenv("KAFKA_HOME", str(tmp_path))
    assert streaming.kafka_home("9.9.9") == tmp_path
    monkeypatch.delenv("KAFKA_HOME")
    with pytest.raises(FileNotFoundError, match=r"Kafka 0\.0\.0-none jars not found"):
        streaming.kafka_home("0.0.0-none")


@needs_avro
def test_compatibility_levels() -> None:
    assert compatibility_problems(V2_GOOD, [V1], "FULL") == []
    backward = compatibility_problems(V2_NO_DEFAULT, [V1], "BACKWARD")
    assert backward and "channel" in " ".join(backward), backward
    assert compatibility_problems(V2_NO_DEFAULT, [V1], "FORWARD") == [], "old readers ignore a new field"
    assert compatibility_problems(V2_NO_DEFAULT, [V1], "NONE") == []
    # removing a field that has no default breaks FORWARD (old readers need a value)
    v1_strict = {**V1, "fields": [*KEEP, {"name": "email_domain", "type": "string"}]}
    assert compatibility_problems({**V1, "fields": KEEP}, [v1_strict], "FORWARD")
    with pytest.raises(ValueError, match="unknown compatibility level"):
        compatibility_problems(V1, [V1], "SIDEWAYS")


@needs_avro
def test_transitive_checks_every_version() -> None:
    v2 = {**V1, "fields": [*V1["fields"], {"name": "channel", "type": "string", "default": "x"}]}
    v3 = {
        **V1,
        "fields": [
            *V1["fields"],
            {"name": "channel", "type": "string", "default": "x"},
            {"name": "n", "type": "int", "default": 0},
        ],
    }
    v1_required = {**V1, "fields": [*V1["fields"], {"name": "legacy", "type": "string"}]}
    # v3 drops `legacy`, which readers on v1_required need: only the transitive check looks back that far
    assert compatibility_problems(v3, [v1_required, v2], "FORWARD") == []
    assert compatibility_problems(v3, [v1_required, v2], "FORWARD_TRANSITIVE")


@needs_avro
def test_registry_refuses_breaking_changes_and_is_idempotent() -> None:
    registry = SchemaRegistry()
    registry.set_compatibility("payments-value", "FULL")
    first = registry.register("payments-value", V1)
    assert registry.register("payments-value", V1) == first, "registering the same schema again returns its id"
    with pytest.raises(IncompatibleSchema, match="channel"):
        registry.register("payments-value", V2_NO_DEFAULT)
    assert registry.versions("payments-value") == [1]
    second = registry.register("payments-value", V2_GOOD)
    assert second != first and registry.versions("payments-value") == [1, 2]
    assert registry.latest("payments-value") == (second, V2_GOOD)
    assert registry.compatibility("other-subject") == "BACKWARD"
    with pytest.raises(ValueError):
        registry.set_compatibility("x", "MOSTLY")


@needs_avro
def test_wire_format_and_aliases_keep_renamed_data() -> None:
    registry = SchemaRegistry(default_level="FULL")
    registry.register("s", V1)
    blob = encode(registry, "s", {"event_id": "e1", "amount": 2.5, "email_domain": "gmail.com"})
    assert blob[0] == 0 and int.from_bytes(blob[1:5], "big") == registry.latest("s")[0]
    assert decode(registry, blob) == {"event_id": "e1", "amount": 2.5, "email_domain": "gmail.com"}
    good = decode(registry, blob, V2_GOOD)
    assert good["payer_email_domain"] == "gmail.com" and good["channel"] == "unknown"
    # without the alias the schemas are still compatible, but the renamed field reads as its default
    assert compatibility_problems(V2_NO_ALIAS, [V1], "FULL") == []
    assert decode(registry, blob, V2_NO_ALIAS)["payer_email_domain"] is None
    with pytest.raises(ValueError, match="magic byte"):
        decode(registry, b"\x01" + blob[1:])


def test_apply_field_aliases_renames_only_unmatched_writer_fields() -> None:
    renamed = apply_field_aliases(V1, V2_GOOD)
    assert [f["name"] for f in renamed["fields"]] == ["event_id", "amount", "payer_email_domain"]
    assert V1["fields"][2]["name"] == "email_domain", "the input schema is not modified"
    assert apply_field_aliases(V1, V1) == V1
