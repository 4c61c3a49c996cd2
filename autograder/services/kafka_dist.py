"""The Apache Kafka distribution: jars from Maven Central in a cache outside the repo, run with java.

`python -m autograder.services.kafka fetch` resolves `kafka_2.13` (broker, KRaft),
`kafka-tools`, `connect-runtime`/`connect-file`/`connect-json` and `kafka-streams`
with all runtime dependencies into ~/.cache/mlops-labs/kafka-<version>/libs.
"""

from __future__ import annotations

import base64
import fcntl
import os
import shutil
import subprocess
import threading
import uuid
from pathlib import Path

from autograder.services.base import MissingDependency, ServiceError, cache_dir, which

VERSION = os.environ.get("LABS_KAFKA_VERSION", "4.3.1")
LOG4J = "2.25.4"  # the log4j2 that kafka 4.3 is built against
SLF4J = "2.0.17"
ARTIFACTS = ["kafka_2.13", "kafka-tools", "connect-runtime", "connect-file", "connect-json", "kafka-streams"]
JAVA_HINT = "apt-get install -y openjdk-17-jre-headless"

LOG4J2_YAML = """\
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: org.apache.kafka.clients
        level: WARN
      - name: org.reflections
        level: ERROR
"""


def home(version: str = VERSION) -> Path:
    return cache_dir() / f"kafka-{version}"


def libs(version: str = VERSION) -> Path:
    return home(version) / "libs"


def is_fetched(version: str = VERSION) -> bool:
    return (home(version) / ".complete").exists()


def _pom(version: str) -> str:
    deps = [("org.apache.kafka", a, version) for a in ARTIFACTS]
    # log4j2 as the slf4j backend (kafka's own choice since 4.0); slf4j 2 pinned over stray 1.7s.
    deps += [("org.slf4j", "slf4j-api", SLF4J), ("org.apache.logging.log4j", "log4j-slf4j2-impl", LOG4J)]
    body = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>mlops-labs</groupId><artifactId>kafka-dist</artifactId><version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
{body}
  </dependencies>
</project>
"""


def fetch(version: str = VERSION, quiet: bool = False) -> Path:
    """Resolve the jars with Maven (idempotent: a no-op when the cache is complete)."""
    if is_fetched(version):
        return libs(version)
    mvn = which("mvn", "apt-get install -y maven")
    which("java", JAVA_HINT)
    h = home(version)
    h.mkdir(parents=True, exist_ok=True)
    (h / "pom.xml").write_text(_pom(version))
    tmp = h / "libs.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [mvn, "-B", "-q", "-f", str(h / "pom.xml"), "dependency:copy-dependencies"]
    cmd += [f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"]
    if not quiet:
        print(f"fetching Apache Kafka {version} jars with Maven into {h} ...")
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise ServiceError(f"mvn failed to fetch Kafka {version}:\n{res.stdout[-3000:]}\n{res.stderr[-2000:]}")
    shutil.rmtree(libs(version), ignore_errors=True)
    tmp.rename(libs(version))
    (h / "log4j2.yaml").write_text(LOG4J2_YAML)
    (h / ".complete").write_text(version + "\n")
    if not quiet:
        print(f"Kafka {version}: {len(list(libs(version).glob('*.jar')))} jars in {libs(version)}")
    return libs(version)


def ensure_fetched(version: str = VERSION) -> Path:
    """The jars, fetching them on first use when Maven is available."""
    if is_fetched(version):
        return libs(version)
    try:
        return fetch(version, quiet=True)
    except MissingDependency as e:
        raise MissingDependency(
            f"Kafka {version} jars are not in {home(version)} and cannot be fetched ({e}); "
            "run `python -m autograder.services.kafka fetch`"
        ) from None


def cds_archive(version: str = VERSION) -> Path:
    """Class-data-sharing archive of a broker's classes: halves broker start (6.4 s → 3.5 s)."""
    return home(version) / "kafka-broker.jsa"


def java_argv(
    main_class: str,
    args: list[str],
    heap_mb: int = 384,
    version: str = VERSION,
    archive_out: Path | None = None,
) -> list[str]:
    java = which("java", JAVA_HINT)
    lib = ensure_fetched(version)
    if archive_out is not None:
        cds = [f"-XX:ArchiveClassesAtExit={archive_out}"]
    elif cds_archive(version).exists():
        # -Xshare:auto (the default) ignores an archive that doesn't match this JVM/classpath.
        cds = [f"-XX:SharedArchiveFile={cds_archive(version)}"]
    else:
        cds = []
    opts = [
        *cds,
        f"-Xmx{heap_mb}m",
        "-Xms32m",
        "-XX:+UseSerialGC",  # small footprint; labs push little data
        "-XX:TieredStopAtLevel=1",  # C1 only: faster start, less memory
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={home(version) / 'log4j2.yaml'}",
    ]
    return [java, *opts, "-cp", f"{lib}/*", main_class, *args]


def new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


_template_lock = threading.Lock()


def format_storage(config: Path, cluster_id: str, log: Path) -> None:
    """KRaft storage format (kafka-storage.sh format)."""
    argv = java_argv("kafka.tools.StorageTool", ["format", "-t", cluster_id, "-c", str(config)], heap_mb=128)
    with open(log, "ab") as fh:
        res = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, check=False)
    if res.returncode != 0:
        raise ServiceError(f"Kafka storage format failed for {config} (see {log})")


def prepare_storage(logdir: Path, node_id: int, cluster_id: str, log: Path) -> None:
    """What `StorageTool format` writes for a static-quorum node, without a JVM per node.

    The real tool runs once per Kafka version into a template in the cache; its
    bootstrap.checkpoint (feature levels only) is copied and meta.properties is
    written for each node. Saves ~3 s of CPU per node on a 2-core machine.
    """
    template = home() / "format-template"
    # Threads of one `up` and other processes (parallel test sessions) share the template.
    with _template_lock, open(home() / ".format.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (template / "bootstrap.checkpoint").exists():
            shutil.rmtree(template, ignore_errors=True)
            props = {
                "process.roles": "broker,controller",
                "node.id": 1,
                "controller.quorum.voters": "1@127.0.0.1:9093",
                "listeners": "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
                "controller.listener.names": "CONTROLLER",
                "log.dirs": template,
            }
            format_storage(write_properties(home() / "format-template.properties", props), new_cluster_id(), log)
    logdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template / "bootstrap.checkpoint", logdir / "bootstrap.checkpoint")
    meta = {"version": 1, "cluster.id": cluster_id, "node.id": node_id, "directory.id": new_cluster_id()}
    write_properties(logdir / "meta.properties", meta)


def write_properties(path: Path, props: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path
