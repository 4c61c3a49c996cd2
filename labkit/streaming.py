"""Kafka helpers for the streaming labs: your own broker in the cluster, topic/ISR/lag/skew metrics,
Kafka Connect's REST API, and Avro feature contracts with a schema registry's compatibility rules.

Everything here talks to real Kafka: the brokers are Apache Kafka (KRaft) started by the harness,
`LabBroker` starts one more from the same jars. What is *not* a server here is the schema
registry: `SchemaRegistry` keeps subjects, versions and ids in memory and runs the compatibility
checks of the Apache Avro library (`avro.compatibility`, the Python port of the Java
`SchemaCompatibility` that Confluent's and Apicurio's registries use).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import ctypes
import glob
import io
import json
import logging
import os
import shutil
import signal
import struct
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.net import free_port

log = logging.getLogger("labkit.streaming")
_quiet = logging.getLogger("labkit.streaming.clients")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False

KAFKA_VERSION = "4.3.1"
COMPATIBILITY_LEVELS = (
    "NONE",
    "BACKWARD",
    "FORWARD",
    "FULL",
    "BACKWARD_TRANSITIVE",
    "FORWARD_TRANSITIVE",
    "FULL_TRANSITIVE",
)


def quiet_client_logs() -> None:
    """Keep Kafka client libraries' log records out of the notebook's stderr (they still go to handlers you add)."""
    for name in ("kafka", "aiokafka", "confluent_kafka"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.25) -> None:
    """Poll `check` until it is true; TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not true after {timeout:.0f} s")
        time.sleep(interval)


# --------------------------------------------------------------------------- keys and partitions


def java_partition(key: bytes | str, num_partitions: int) -> int:
    """The partition the Java client (and aiokafka, kafka-python) picks for a key: murmur2, positive, mod n.

    librdkafka's default (`consistent_random`) hashes with CRC32 instead, so a confluent-kafka
    producer must set `partitioner=murmur2_random` to agree with every other client.
    """
    from kafka.partitioner.default import murmur2

    data = key.encode() if isinstance(key, str) else key
    return (murmur2(data) & 0x7FFFFFFF) % num_partitions


def partition_skew(counts: Mapping[int, int] | Sequence[int]) -> float:
    """max / mean of records per partition: 1.0 is perfectly even, 2.0 means the hottest has twice the mean."""
    values = list(counts.values()) if isinstance(counts, Mapping) else list(counts)
    if not values or sum(values) == 0:
        return 0.0
    return max(values) / (sum(values) / len(values))


def consumer_lag(end_offsets: Mapping[int, int], committed: Mapping[int, int | None]) -> dict[int, int]:
    """Records not yet consumed per partition: log-end offset (high watermark) minus the committed offset.

    A committed offset is the *next* record to read, so nothing is off by one. A partition with no
    commit counts all its records (assumes the log starts at 0, as it does until retention deletes).
    """
    lag = {}
    for partition, end in end_offsets.items():
        done = committed.get(partition)
        lag[partition] = end - (done if done is not None and done >= 0 else 0)
    return lag


# --------------------------------------------------------------------------- describing the cluster


@dataclass(frozen=True)
class PartitionState:
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def under_replicated(self) -> bool:
        return len(self.isr) < len(self.replicas)


def admin_client(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    # librdkafka's admin (and producer) handles ask the broker to auto-create any topic they look up:
    # describing a deleted topic would bring it back with one partition.
    return AdminClient({"bootstrap.servers": bootstrap, "allow.auto.create.topics": False, "logger": _quiet})


def describe_partitions(admin: Any, topic: str, timeout: float = 10.0) -> dict[int, PartitionState]:
    """Leader, replicas and in-sync replicas of every partition of `topic` (from the cluster metadata)."""
    md = admin.list_topics(topic, timeout=timeout).topics[topic]
    if md.error is not None:
        raise RuntimeError(f"topic {topic}: {md.error}")
    return {
        p.id: PartitionState(p.leader, tuple(p.replicas), tuple(sorted(p.isrs)))
        for p in sorted(md.partitions.values(), key=lambda p: p.id)
    }


def topic_configs(admin: Any, topic: str, timeout: float = 10.0) -> dict[str, tuple[str, str]]:
    """Every config of `topic` as name -> (value, source); source `DYNAMIC_TOPIC_CONFIG` means set on the topic."""
    from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType

    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout)
    return {name: (entry.value, _source_name(entry.source, ConfigSource)) for name, entry in entries.items()}


def _source_name(source: Any, enum: Any) -> str:
    if hasattr(source, "name"):
        return str(source.name)
    try:
        return str(enum(int(source)).name)
    except (ValueError, TypeError):
        return str(source)


def wait_for_isr(
    admin: Any,
    topic: str,
    predicate: Callable[[dict[int, PartitionState]], bool],
    timeout: float = 30.0,
    what: str = "ISR",
) -> dict[int, PartitionState]:
    """Poll the topic's partition states until `predicate` holds; return them."""
    seen: dict[int, PartitionState] = {}

    def check() -> bool:
        nonlocal seen
        try:
            seen = describe_partitions(admin, topic)
        except RuntimeError:  # a topic just created is not in every broker's metadata yet
            return False
        return bool(seen) and predicate(seen)

    try:
        wait_until(check, timeout, f"{what} on {topic}", interval=0.3)
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; last seen {seen}") from None
    return seen


def delete_topics(admin: Any, topics: Iterable[str], timeout: float = 30.0) -> list[str]:
    """Delete the topics that exist (idempotent) and wait until the metadata no longer lists them."""
    existing = set(admin.list_topics(timeout=10).topics)
    doomed = [t for t in topics if t in existing]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=timeout).values():
            with contextlib.suppress(Exception):
                future.result(timeout)
        wait_until(lambda: not set(doomed) & set(admin.list_topics(timeout=10).topics), timeout, f"deleting {doomed}")
    return doomed


def delete_groups(admin: Any, groups: Iterable[str], timeout: float = 30.0) -> list[str]:
    """Delete consumer groups and their committed offsets; return the groups that remain.

    A group that doesn't exist is fine. A group with live members (a connector's task that is still
    shutting down) can't be deleted yet: it is retried until `timeout`.
    """
    from confluent_kafka import KafkaError

    pending = list(groups)
    deadline = time.monotonic() + timeout
    while pending:
        futures = admin.delete_consumer_groups(pending, request_timeout=min(timeout, 10.0))
        retry = []
        for group, future in futures.items():
            try:
                future.result(timeout)
            except Exception as exc:  # KafkaException carrying the broker's error
                code = exc.args[0].code() if exc.args and hasattr(exc.args[0], "code") else None
                if code == KafkaError.NON_EMPTY_GROUP:
                    retry.append(group)
        pending = retry
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return pending


def end_offsets(bootstrap: str, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """High watermark (next offset to be written and replicated) of every partition."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"labkit-offsets-{uuid.uuid4().hex[:8]}", "logger": _quiet}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=timeout).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1] for p in sorted(partitions)
        }
    finally:
        consumer.close()


def committed_offsets(admin: Any, group: str, topic: str, timeout: float = 10.0) -> dict[int, int | None]:
    """The group's committed offset per partition of `topic` (None where it never committed)."""
    from confluent_kafka import ConsumerGroupTopicPartitions

    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout)
    return {
        tp.partition: (tp.offset if tp.offset >= 0 else None) for tp in result.topic_partitions if tp.topic == topic
    }


def group_lag(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """Consumer lag per partition as the broker sees it (what Burrow or kafka-exporter report)."""
    admin = admin_client(bootstrap)
    return consumer_lag(end_offsets(bootstrap, topic), committed_offsets(admin, group, topic))


def cluster_health(bootstrap: str, topics: Sequence[str]) -> dict[str, float]:
    """The metrics an on-call dashboard shows for a set of topics (as numbers, Prometheus-style)."""
    admin = admin_client(bootstrap)
    md = admin.list_topics(timeout=10)
    metrics = {"brokers": float(len(md.brokers)), "under_replicated_partitions": 0.0, "offline_partitions": 0.0}
    existing = set(md.topics)
    metrics["missing_topics"] = float(sum(t not in existing for t in topics))
    for topic in (t for t in topics if t in existing):
        for state in describe_partitions(admin, topic).values():
            metrics["under_replicated_partitions"] += state.under_replicated
            metrics["offline_partitions"] += state.leader < 0
    return metrics


@dataclass
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    leader_epoch: int | None


def read_topic(bootstrap: str, topic: str, timeout: float = 30.0) -> list[Record]:
    """Every record of `topic` from the beginning up to the high watermarks seen at the start.

    No consumer group (partitions are assigned directly), so it changes no offsets; stops at the
    deadline instead of waiting forever.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    ends = end_offsets(bootstrap, topic)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"labkit-read-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "allow.auto.create.topics": False,
            "logger": _quiet,
        }
    )
    records: list[Record] = []
    todo = {p for p, end in ends.items() if end > 0}
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(todo)])
        deadline = time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error():
                    continue
                p = msg.partition()
                if p in todo and msg.offset() < ends[p]:
                    epoch = msg.leader_epoch() if hasattr(msg, "leader_epoch") else None
                    records.append(Record(p, msg.offset(), msg.key(), msg.value(), msg.timestamp()[1], epoch))
                if msg.offset() >= ends[p] - 1:
                    todo.discard(p)
    finally:
        consumer.close()
    return records


# --------------------------------------------------------------------------- your own broker


def kafka_home(version: str = KAFKA_VERSION) -> Path:
    """The Kafka distribution the harness fetched from Maven Central (`<cache>/kafka-<version>`).

    `KAFKA_HOME` wins; then `LABS_CACHE_DIR`, `XDG_CACHE_HOME`, `~/.cache`; a graded kernel has its
    own HOME, so the cache of the user who started the services is looked up too.
    """
    candidates = []
    if os.environ.get("KAFKA_HOME"):
        candidates.append(Path(os.environ["KAFKA_HOME"]))
    caches = [os.environ.get("LABS_CACHE_DIR")]
    caches.append(os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "mlops-labs"))
    caches += ["/root/.cache/mlops-labs", *sorted(glob.glob("/home/*/.cache/mlops-labs"))]
    candidates += [Path(c) / f"kafka-{version}" for c in caches if c]
    for home in candidates:
        if (home / "libs").is_dir() and any((home / "libs").glob("kafka_2.13-*.jar")):
            return home
    raise FileNotFoundError(
        f"Kafka {version} jars not found (looked in {', '.join(map(str, candidates))}); "
        "run `python -m autograder.services.kafka fetch` or set KAFKA_HOME"
    )


def java_command(main_class: str, args: Sequence[str], heap_mb: int = 192, home: Path | None = None) -> list[str]:
    """`java ... -cp libs/* <main_class> args`, with the small-footprint flags the harness uses."""
    home = home or kafka_home()
    opts = [f"-Xmx{heap_mb}m", "-Xms32m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData"]
    opts.append("-Djava.awt.headless=true")
    archive = home / "kafka-broker.jsa"
    if archive.exists():  # class-data sharing: halves a broker's start; ignored if it doesn't match
        opts.insert(0, f"-XX:SharedArchiveFile={archive}")
    logconf = home / "log4j2.yaml"
    if logconf.exists():
        opts.append(f"-Dlog4j2.configurationFile={logconf}")
    return ["java", *opts, "-cp", f"{home / 'libs'}/*", main_class, *args]


def controller_voters(bootstrap: str) -> str:
    """`controller.quorum.voters` of the running cluster, from the KRaft quorum (DescribeQuorum)."""
    quorum = describe_quorum(bootstrap)
    voters = []
    for node in quorum["nodes"]:
        listener = next(lst for lst in node["listeners"] if lst["name"] == "CONTROLLER")
        voters.append(f"{node['node_id']}@{listener['host']}:{listener['port']}")
    return ",".join(voters)


def describe_quorum(bootstrap: str) -> dict[str, Any]:
    """The metadata quorum: leader, epoch, voters (controllers), observers (brokers), controller endpoints."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="labkit-quorum")
    try:
        raw = admin.describe_metadata_quorum()
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    part = raw["topics"][0]["partitions"][0]
    return {
        "cluster_id": cluster["cluster_id"],
        "leader_id": part["leader_id"],
        "leader_epoch": part["leader_epoch"],
        "high_watermark": part["high_watermark"],
        "voters": sorted(v["replica_id"] for v in part["current_voters"]),
        "observers": sorted(o["replica_id"] for o in part["observers"]),
        "nodes": raw.get("nodes") or [],
        "brokers": {
            b["broker_id"]: {"port": b["port"], "fenced": b.get("is_fenced", False)} for b in cluster["brokers"]
        },
    }


def broker_properties(
    node_id: int, port: int, voters: str, log_dir: Path | str, cordoned: bool = True
) -> dict[str, object]:
    """server.properties of a broker-only KRaft node that joins an existing cluster, sized for a laptop."""
    props: dict[str, object] = {
        "process.roles": "broker",
        "node.id": node_id,
        "controller.quorum.voters": voters,
        "controller.listener.names": "CONTROLLER",
        "listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "log.segment.bytes": 8 * 2**20,
        "log.index.size.max.bytes": 2**20,
        "log.cleaner.dedupe.buffer.size": 8 * 2**20,
        "num.network.threads": 1,
        "num.io.threads": 2,
        "background.threads": 2,
        "num.replica.fetchers": 1,
        "num.recovery.threads.per.data.dir": 1,
        "log.cleaner.threads": 1,
        "replica.lag.time.max.ms": 5000,
        "broker.session.timeout.ms": 6000,
        "broker.heartbeat.interval.ms": 1000,
    }
    if cordoned:
        # KIP-1066: the controller places no *new* replicas here unless a topic names this broker
        # explicitly, so classmates' topics never land on a broker that a lab stops.
        props["cordoned.log.dirs"] = str(log_dir)
    return props


def write_properties(path: Path, props: Mapping[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


_BROKERS: list[LabBroker] = []


@dataclass
class LabBroker:
    """One more Kafka broker, started by you from the jars, that joins the running cluster."""

    bootstrap: str
    node_id: int
    workdir: Path
    port: int = 0
    heap_mb: int = 192
    cordoned: bool = True
    starts: int = 0
    stops: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = field(default=None, repr=False)
    cluster_id: str = ""
    voters: str = ""

    @property
    def config(self) -> Path:
        return self.workdir / "server.properties"

    @property
    def log(self) -> Path:
        return self.workdir / "broker.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def prepare(self) -> Path:
        """Write server.properties and the storage metadata (what `kafka-storage.sh format` writes)."""
        if not self.cluster_id:
            self.cluster_id = describe_quorum(self.bootstrap)["cluster_id"]
            self.voters = controller_voters(self.bootstrap)
        self.port = self.port or free_port()
        data = (self.workdir / "data").resolve()
        meta = data / "meta.properties"
        if meta.exists() and f"cluster.id={self.cluster_id}\n" not in meta.read_text():
            shutil.rmtree(data)  # left from a cluster that no longer runs
        data.mkdir(parents=True, exist_ok=True)
        write_properties(self.config, broker_properties(self.node_id, self.port, self.voters, data, self.cordoned))
        if not meta.exists():
            directory_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            props = {"version": 1, "cluster.id": self.cluster_id, "node.id": self.node_id, "directory.id": directory_id}
            write_properties(meta, props)
        return self.config

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def registered(self) -> bool:
        """True once the controller lists this broker as live (unfenced) in the cluster metadata."""
        try:
            return self.node_id in admin_client(self.bootstrap).list_topics(timeout=2).brokers
        except Exception:  # a metadata timeout just means "not yet"
            return False

    def launch(self) -> None:
        """Start the broker's JVM without waiting (idempotent); `wait_ready()` waits for it."""
        if self.alive():
            return
        self.prepare()
        cmd = java_command("kafka.Kafka", [str(self.config)], heap_mb=self.heap_mb)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.starts += 1
        if self not in _BROKERS:
            _BROKERS.append(self)

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Wait until the controller lists this broker as live; fail fast if the JVM exits."""

        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"broker {self.node_id} is not running; last log lines:\n{self.log_tail()}")
            return self.registered()

        wait_until(ready, timeout, f"broker {self.node_id} joining the cluster", interval=0.3)

    def start(self, timeout: float = 90.0) -> None:
        """Start the broker (idempotent) and wait until the cluster lists it."""
        self.launch()
        self.wait_ready(timeout)

    def stop(self, graceful: bool = True, timeout: float = 60.0) -> None:
        """SIGTERM: controlled shutdown (leaders move first). SIGKILL (graceful=False): a crash."""
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM if graceful else signal.SIGKILL)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.stops.append("controlled" if graceful else "killed")

    def unregister(self) -> None:
        """`kafka-cluster.sh unregister`: remove a stopped broker's registration from the cluster."""
        cmd = java_command(
            "org.apache.kafka.tools.ClusterTool",
            ["unregister", "--bootstrap-server", self.bootstrap.split(",")[0], "--id", str(self.node_id)],
            heap_mb=96,
        )
        subprocess.run(cmd, capture_output=True, timeout=60, check=False)

    def close(self) -> None:
        """Stop and unregister (idempotent): the cluster is left as it was."""
        was_started = self.starts > 0
        self.stop()
        if was_started:
            self.unregister()
        if self in _BROKERS:
            _BROKERS.remove(self)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _stop_brokers() -> None:
    for broker in list(_BROKERS):
        with contextlib.suppress(Exception):
            broker.stop(timeout=20)


atexit.register(_stop_brokers)


# --------------------------------------------------------------------------- Kafka Connect REST


def connect_request(base_url: str, method: str, path: str, body: object | None = None, timeout: float = 30.0) -> Any:
    """One call to the Connect worker's REST API; JSON in, JSON out (None for 204)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"{base_url.rstrip('/')}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise RuntimeError(f"{method} {path} -> HTTP {exc.code}: {detail}") from None
    return json.loads(raw) if raw else None


def connector_status(base_url: str, name: str) -> dict[str, Any] | None:
    """GET /connectors/<name>/status, or None if there is no such connector."""
    try:
        return connect_request(base_url, "GET", f"/connectors/{name}/status")
    except RuntimeError as exc:
        if "HTTP 404" in str(exc):
            return None
        raise


def wait_connector_running(base_url: str, name: str, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until the connector and at least one task are RUNNING; raise with the trace if one FAILED."""
    status: dict[str, Any] | None = None

    def running() -> bool:
        nonlocal status
        status = connector_status(base_url, name)
        if not status:
            return False
        states = [status["connector"]["state"], *(t["state"] for t in status.get("tasks", []))]
        if "FAILED" in states:
            traces = [t.get("trace", "") for t in status.get("tasks", []) if t["state"] == "FAILED"]
            raise RuntimeError(
                f"connector {name} FAILED: {(traces or [status['connector'].get('trace', '')])[0][:800]}"
            )
        return bool(status.get("tasks")) and all(s == "RUNNING" for s in states)

    wait_until(running, timeout, f"connector {name} RUNNING")
    assert status is not None
    return status


def delete_connector(base_url: str, name: str) -> None:
    with contextlib.suppress(RuntimeError):
        connect_request(base_url, "DELETE", f"/connectors/{name}")


# --------------------------------------------------------------------------- Avro contracts and a registry


class IncompatibleSchema(ValueError):
    """A registry refused a schema: the message lists what breaks."""


def parse_avro(schema: Mapping[str, Any] | str) -> Any:
    import avro.schema

    return avro.schema.parse(schema if isinstance(schema, str) else json.dumps(schema))


def can_read(reader: Mapping[str, Any] | Any, writer: Mapping[str, Any] | Any) -> list[str]:
    """Problems when data written with `writer` is read with `reader` (empty list: compatible)."""
    from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

    r = reader if not isinstance(reader, Mapping) else parse_avro(reader)
    w = writer if not isinstance(writer, Mapping) else parse_avro(writer)
    result = ReaderWriterCompatibilityChecker().get_compatibility(r, w)
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    return [
        f"{kind.value} at {location}: {message}"
        for kind, location, message in zip(result.incompatibilities, result.locations, result.messages, strict=False)
    ] or [str(result.compatibility.value)]


def compatibility_problems(new: Mapping[str, Any], previous: Sequence[Mapping[str, Any]], level: str) -> list[str]:
    """What a schema registry would say about registering `new` after `previous` (oldest first).

    BACKWARD: consumers on `new` read data written with the latest previous schema;
    FORWARD: consumers still on the latest previous schema read data written with `new`;
    FULL: both. `_TRANSITIVE` checks against every previous version, not only the latest.
    """
    level = level.upper()
    if level not in COMPATIBILITY_LEVELS:
        raise ValueError(f"unknown compatibility level {level!r}; one of {', '.join(COMPATIBILITY_LEVELS)}")
    if level == "NONE" or not previous:
        return []
    against = list(previous) if level.endswith("_TRANSITIVE") else [previous[-1]]
    base = level.removesuffix("_TRANSITIVE")
    problems: list[str] = []
    for old in against:
        if base in ("BACKWARD", "FULL"):
            problems += [f"BACKWARD (new reads old): {p}" for p in can_read(new, old)]
        if base in ("FORWARD", "FULL"):
            problems += [f"FORWARD (old reads new): {p}" for p in can_read(old, new)]
    return problems


class SchemaRegistry:
    """Subjects -> versions -> schema ids with compatibility enforcement, in memory.

    The REST server (Confluent Schema Registry, Apicurio, Karapace) adds storage in a Kafka topic,
    HTTP and auth; the rules applied on `register` are the same checks as here.
    """

    def __init__(self, default_level: str = "BACKWARD") -> None:
        self.default_level = default_level
        self._levels: dict[str, str] = {}
        self._subjects: dict[str, list[int]] = {}
        self._schemas: dict[int, dict[str, Any]] = {}
        self._ids: dict[str, int] = {}

    def set_compatibility(self, subject: str, level: str) -> None:
        if level.upper() not in COMPATIBILITY_LEVELS:
            raise ValueError(f"unknown compatibility level {level!r}")
        self._levels[subject] = level.upper()

    def compatibility(self, subject: str) -> str:
        return self._levels.get(subject, self.default_level)

    def check(self, subject: str, schema: Mapping[str, Any]) -> list[str]:
        """Problems registering `schema` under `subject` (empty: it would be accepted)."""
        previous = [self._schemas[i] for i in self._subjects.get(subject, [])]
        return compatibility_problems(schema, previous, self.compatibility(subject))

    def register(self, subject: str, schema: Mapping[str, Any]) -> int:
        """Register (idempotent for an identical schema) and return the schema id; raise if incompatible."""
        canonical = parse_avro(schema).canonical_form
        versions = self._subjects.setdefault(subject, [])
        if canonical in self._ids and self._ids[canonical] in versions:
            return self._ids[canonical]
        problems = self.check(subject, schema)
        if problems:
            raise IncompatibleSchema(f"{subject} ({self.compatibility(subject)}): " + "; ".join(problems))
        schema_id = self._ids.setdefault(canonical, len(self._ids) + 1)
        self._schemas[schema_id] = json.loads(json.dumps(schema))
        versions.append(schema_id)
        return schema_id

    def versions(self, subject: str) -> list[int]:
        """Version numbers (1-based) of a subject."""
        return list(range(1, len(self._subjects.get(subject, [])) + 1))

    def latest(self, subject: str) -> tuple[int, dict[str, Any]]:
        """(schema id, schema) of the subject's latest version."""
        schema_id = self._subjects[subject][-1]
        return schema_id, self._schemas[schema_id]

    def schema(self, schema_id: int) -> dict[str, Any]:
        return self._schemas[schema_id]


def apply_field_aliases(writer: Mapping[str, Any], reader: Mapping[str, Any]) -> dict[str, Any]:
    """The writer schema with its record fields renamed where a reader field lists the name as an alias.

    Java's decoder does this (`Schema.applyAliases`) before resolving; the Python `avro` decoder
    does not, so without it a renamed field would silently read as its default.
    """
    out = json.loads(json.dumps(writer))
    if out.get("type") != "record" or reader.get("type") != "record":
        return out
    renames = {}
    for rfield in reader.get("fields", []):
        for alias in rfield.get("aliases", []):
            renames[alias] = rfield["name"]
    reader_names = {f["name"] for f in reader.get("fields", [])}
    for wfield in out.get("fields", []):
        if wfield["name"] not in reader_names and wfield["name"] in renames:
            wfield["name"] = renames[wfield["name"]]
    return out


def encode(registry: SchemaRegistry, subject: str, record: Mapping[str, Any]) -> bytes:
    """Confluent wire format: magic byte 0, 4-byte schema id (big-endian), Avro binary of the record."""
    import avro.io

    schema_id, schema = registry.latest(subject)
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, schema_id))
    avro.io.DatumWriter(parse_avro(schema)).write(dict(record), avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def decode(registry: SchemaRegistry, data: bytes, reader: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Decode wire-format bytes with the writer's schema (looked up by id) resolved to `reader`."""
    import avro.io

    magic, schema_id = struct.unpack(">bI", data[:5])
    if magic != 0:
        raise ValueError(f"not Confluent wire format (magic byte {magic})")
    writer = registry.schema(schema_id)
    reader = reader or writer
    datum = avro.io.DatumReader(parse_avro(apply_field_aliases(writer, reader)), parse_avro(reader))
    return datum.read(avro.io.BinaryDecoder(io.BytesIO(data[5:])))
