"""Apache Kafka 4.x (KRaft, no ZooKeeper) run natively with java.

Services:
  kafka          one combined broker+controller       → KAFKA_BOOTSTRAP
  kafka-cluster  three combined nodes (RF 3, min ISR 2) → KAFKA_CLUSTER_BOOTSTRAP
  kafka-connect  a distributed Connect worker on kafka  → KAFKA_CONNECT_URL

From a lab: `stop_broker(node_id)` / `start_broker(node_id)` act on the running cluster.
CLI: `python -m autograder.services.kafka fetch` puts the jars in the cache (CI runs it).
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from autograder.services import kafka_dist, state
from autograder.services.base import (
    HOST,
    ContainerSpec,
    Proc,
    Running,
    Service,
    ServiceError,
    data_dir,
    free_port,
    http_ok,
    kill_group,
    log_path,
    pick_port,
    spawn,
    tcp_open,
    wait_until,
)

_quiet = logging.getLogger("autograder.services.kafka.probe")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False


def _node_props(node_id: int, port: int, cport: int, voters: str, logdir: Path, rf: int) -> dict[str, object]:
    return {
        "process.roles": "broker,controller",
        "node.id": node_id,
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{cport}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": logdir,
        "num.partitions": 1,
        "default.replication.factor": rf,
        "min.insync.replicas": 1 if rf == 1 else 2,
        "offsets.topic.replication.factor": rf,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": 1 if rf == 1 else 2,
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": 1 if rf == 1 else 2,
        "group.initial.rebalance.delay.ms": 0,
        # A dead follower leaves the ISR within seconds, not the default 30 s (ISR labs).
        "replica.lag.time.max.ms": 5000,
        "broker.session.timeout.ms": 6000,
        "broker.heartbeat.interval.ms": 1000,
        "log.segment.bytes": 16 * 2**20,
        # The compaction buffer defaults to 128 MB of heap: more than a small lab broker has.
        "log.cleaner.dedupe.buffer.size": 16 * 2**20,
        # Thread pools sized for a 2-core machine (defaults: 3 network, 8 I/O).
        "num.network.threads": 2,
        "num.io.threads": 2,
        "log.retention.check.interval.ms": 60000,
    }


def _cluster_id(logdir: Path) -> str | None:
    meta = logdir / "meta.properties"
    if not meta.exists():
        return None
    m = re.search(r"^cluster\.id=(\S+)", meta.read_text(), re.M)
    return m.group(1) if m else None


def _metadata_brokers(bootstrap: str) -> set[int]:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "logger": _quiet, "socket.timeout.ms": 1000})
    md = admin.list_topics(timeout=1.5)
    return set(md.brokers)


class _KraftService(Service):
    """One or more combined broker+controller nodes; state lists each node's ports and config."""

    node_ids: tuple[int, ...] = (1,)
    heap_mb = 384
    start_timeout = 120.0

    def _exports(self, bootstrap: str) -> dict[str, str]:
        return {self.endpoint_var: bootstrap}

    def start_native(self, deps: Mapping[str, Running]) -> Running:
        kafka_dist.ensure_fetched()
        root = data_dir(self.name)
        ports = {n: (pick_port(), pick_port()) for n in self.node_ids}
        voters = ",".join(f"{n}@{HOST}:{c}" for n, (_, c) in ports.items())
        rf = min(3, len(self.node_ids))
        nodes: dict[str, dict[str, object]] = {}
        configs: dict[int, Path] = {}
        for n, (port, cport) in ports.items():
            logdir = root / f"node-{n}"
            configs[n] = kafka_dist.write_properties(
                root / f"node-{n}.properties", _node_props(n, port, cport, voters, logdir, rf)
            )
            nodes[str(n)] = {
                "port": port,
                "controller_port": cport,
                "config": str(configs[n]),
                "dir": str(logdir),
            }
        existing = {_cluster_id(root / f"node-{n}") for n in self.node_ids}
        cluster_id = next(iter(existing)) if len(existing) == 1 and None not in existing else None
        if cluster_id is None:
            # Fresh (or inconsistent) data: format every node with one new cluster id, in parallel.
            for n in self.node_ids:
                _rmtree(root / f"node-{n}")
            cluster_id = kafka_dist.new_cluster_id()
            for n in self.node_ids:
                kafka_dist.prepare_storage(root / f"node-{n}", n, cluster_id, self.log())
        procs = [self._spawn_node(n, configs[n]) for n in self.node_ids]
        bootstrap = ",".join(f"{HOST}:{p}" for p, _ in ports.values())
        port_map = {f"node-{n}": p for n, (p, _) in ports.items()}
        port_map |= {f"controller-{n}": c for n, (_, c) in ports.items()}
        extra = {"nodes": nodes, "stopped": [], "cluster_id": cluster_id}
        return Running(
            self.name,
            "native",
            bootstrap,
            self._exports(bootstrap),
            procs,
            port_map,
            str(self.log()),
            extra=extra,
        )

    def _spawn_node(self, node_id: int, config: Path) -> Proc:
        argv = kafka_dist.java_argv("kafka.Kafka", [str(config)], heap_mb=self.heap_mb)
        return spawn(self.name, argv, role=f"node-{node_id}")

    def alive(self, run: Running) -> bool:
        stopped = {f"node-{n}" for n in run.extra.get("stopped", [])}
        return all(p.alive() for p in run.procs if p.role not in stopped)

    def probe(self, run: Running) -> bool:
        if "nodes" not in run.extra:  # container or external: any broker answering will do
            return bool(_metadata_brokers(run.endpoint))
        stopped = set(run.extra.get("stopped", []))
        want = {int(n) for n in run.extra.get("nodes", {})} - {int(s) for s in stopped}
        live = [f"{HOST}:{run.ports[f'node-{n}']}" for n in sorted(want)]
        if not live or not tcp_open(HOST, run.ports[f"node-{min(want)}"]):
            return False
        return want <= _metadata_brokers(",".join(live))

    def reset(self, run: Running, lab: str) -> dict[str, str]:
        """Delete the lab's topics (named `<lab>.*`)."""
        from confluent_kafka.admin import AdminClient

        prefix = f"{lab}."
        admin = AdminClient({"bootstrap.servers": run.endpoint, "logger": _quiet})
        topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
        if topics:
            for fut in admin.delete_topics(topics, operation_timeout=30).values():
                fut.result()
        return {"LABS_NAMESPACE": lab, "KAFKA_TOPIC_PREFIX": prefix}


class Kafka(_KraftService):
    name = "kafka"
    endpoint_var = "KAFKA_BOOTSTRAP"
    node_ids = (1,)
    heap_mb = 384

    def _exports(self, bootstrap: str) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP": bootstrap, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}

    def container_spec(self) -> ContainerSpec:
        env = {
            "KAFKA_NODE_ID": "1",
            "KAFKA_PROCESS_ROLES": "broker,controller",
            "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
            "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        }
        return ContainerSpec(f"apache/kafka:{kafka_dist.VERSION}", {9092: None}, env, ready_log="Kafka Server started")

    def container_exports(self, host_port: Callable[[int], int]) -> dict[str, str]:
        return self._exports(f"{HOST}:{host_port(9092)}")


class KafkaCluster(_KraftService):
    name = "kafka-cluster"
    endpoint_var = "KAFKA_CLUSTER_BOOTSTRAP"
    node_ids = (1, 2, 3)
    heap_mb = 256


class KafkaConnect(Service):
    """A distributed Connect worker (REST on 127.0.0.1); FileStream connectors are on the classpath."""

    name = "kafka-connect"
    endpoint_var = "KAFKA_CONNECT_URL"
    requires = ("kafka",)
    start_timeout = 120.0

    def start_native(self, deps: Mapping[str, Running]) -> Running:
        bootstrap = deps["kafka"].endpoint
        port = pick_port(self.preferred_port())
        root = data_dir(self.name)
        props = {
            "bootstrap.servers": bootstrap,
            "group.id": "labs-connect",
            "listeners": f"http://{HOST}:{port}",
            "rest.advertised.host.name": HOST,
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            # Plain JSON values (no schema envelope): what Python consumers in labs expect.
            "key.converter.schemas.enable": "false",
            "value.converter.schemas.enable": "false",
            "config.storage.topic": "_connect-configs",
            "offset.storage.topic": "_connect-offsets",
            "status.storage.topic": "_connect-status",
            "config.storage.replication.factor": 1,
            "offset.storage.replication.factor": 1,
            "status.storage.replication.factor": 1,
            "offset.flush.interval.ms": 2000,
            "plugin.discovery": "only_scan",
        }
        config = kafka_dist.write_properties(root / "connect-distributed.properties", props)
        argv = kafka_dist.java_argv("org.apache.kafka.connect.cli.ConnectDistributed", [str(config)], heap_mb=256)
        proc = spawn(self.name, argv)
        url = f"http://{HOST}:{port}"
        return Running(self.name, "native", url, {"KAFKA_CONNECT_URL": url}, [proc], {"rest": port}, str(self.log()))

    def probe(self, run: Running) -> bool:
        return http_ok(f"{run.endpoint}/connectors")


SERVICE = Kafka()
CLUSTER = KafkaCluster()
CONNECT = KafkaConnect()


# --------------------------------------------------------------------------- broker faults for labs


def stop_broker(node_id: int, graceful: bool = True) -> None:
    """Stop one node of the running kafka-cluster (SIGTERM: controlled shutdown; else SIGKILL)."""
    with state.locked():
        services = state.load_state()
        run = _cluster_run(services)
        proc = _node_proc(run, node_id)
        kill_group(proc, signal.SIGTERM if graceful else signal.SIGKILL, timeout=30)
        if node_id not in run.extra["stopped"]:
            run.extra["stopped"].append(node_id)
        state.save_state(services)


def start_broker(node_id: int, timeout: float = 60.0) -> None:
    """Restart a node stopped with stop_broker() and wait until it is back in the cluster metadata."""
    with state.locked():
        services = state.load_state()
        run = _cluster_run(services)
        proc = _node_proc(run, node_id)
        if proc.alive():
            return
        node = run.extra["nodes"][str(node_id)]
        new = CLUSTER._spawn_node(node_id, Path(node["config"]))
        run.procs = [new if p.role == f"node-{node_id}" else p for p in run.procs]
        run.extra["stopped"] = [n for n in run.extra["stopped"] if n != node_id]
        state.save_state(services)
    wait_until(
        lambda: CLUSTER.probe(run),
        timeout=timeout,
        what=f"kafka node {node_id}",
        procs=[new],
        log=log_path(CLUSTER.name),
    )


def brokers() -> dict[int, dict[str, object]]:
    """Nodes of the running cluster: port and whether it is running."""
    run = _cluster_run(state.load_state())
    return {
        int(n): {"port": info["port"], "running": _node_proc(run, int(n)).alive()}
        for n, info in run.extra["nodes"].items()
    }


def _cluster_run(services: Mapping[str, Running]) -> Running:
    run = services.get(CLUSTER.name)
    if run is None or run.provider != "native":
        raise ServiceError("no native kafka-cluster is running: start it with `labs up kafka-cluster`")
    return run


def _node_proc(run: Running, node_id: int) -> Proc:
    for p in run.procs:
        if p.role == f"node-{node_id}":
            return p
    raise ServiceError(f"kafka-cluster has no node {node_id} (nodes: {', '.join(run.extra['nodes'])})")


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def build_cds_archive() -> Path | None:
    """Run one broker with -XX:ArchiveClassesAtExit, make it create a topic, stop it: the archive remains."""
    archive = kafka_dist.cds_archive()
    if archive.exists():
        return archive
    log = kafka_dist.home() / "cds.log"
    with tempfile.TemporaryDirectory(prefix="kafka-cds-") as tmp:
        port, cport = free_port(), free_port()
        props = _node_props(1, port, cport, f"1@{HOST}:{cport}", Path(tmp) / "data", 1)
        config = kafka_dist.write_properties(Path(tmp) / "server.properties", props)
        kafka_dist.prepare_storage(Path(tmp) / "data", 1, kafka_dist.new_cluster_id(), log)
        partial = archive.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        argv = kafka_dist.java_argv("kafka.Kafka", [str(config)], archive_out=partial)
        with open(log, "ab") as fh:
            proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            bootstrap = f"{HOST}:{port}"
            wait_until(lambda: 1 in _metadata_brokers(bootstrap), timeout=120, what="kafka (CDS run)", log=log)
            _touch_topic(bootstrap)
        finally:
            proc.terminate()  # a clean exit is what writes the archive
            proc.wait(120)
    if not partial.exists():
        return None
    partial.rename(archive)
    return archive


def _touch_topic(bootstrap: str) -> None:
    """Load the produce/fetch code paths too, so they are in the archive."""
    from confluent_kafka import Consumer, Producer

    producer = Producer({"bootstrap.servers": bootstrap, "logger": _quiet})
    producer.produce("cds-warmup", b"x")
    producer.flush(30)
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "cds", "auto.offset.reset": "earliest", "logger": _quiet}
    )
    consumer.subscribe(["cds-warmup"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and consumer.poll(1.0) is None:
        pass
    consumer.close()


def main(argv: list[str]) -> int:
    if argv[:1] == ["fetch"]:
        t = time.monotonic()
        kafka_dist.fetch()
        archive = build_cds_archive()
        print(f"class-data-sharing archive: {archive or 'not created (brokers start without it)'}")
        print(f"Kafka {kafka_dist.VERSION} ready in {kafka_dist.libs()} ({time.monotonic() - t:.1f} s)")
        return 0
    print("usage: python -m autograder.services.kafka fetch", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
