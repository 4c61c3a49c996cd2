"""labkit.spark: the session configuration without a JVM, then a real local session (a small job, a
broadcast join, s3a against an in-process moto server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labkit import spark as lks
from labkit.net import free_port

CONNECTOR_JARS = [
    "hadoop-aws-3.5.0.jar",
    "s3-2.35.4.jar",
    "postgresql-42.7.8.jar",
    "spark-sql-kafka-0-10_2.13-4.2.0.jar",
    "kafka-clients-3.9.2.jar",
]


def fake_jars(directory: Path, names: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"PK")
    return directory


def test_conf_points_s3a_at_a_plain_http_endpoint(tmp_path: Path):
    jars = lks.connector_jars(fake_jars(tmp_path / "jars", CONNECTOR_JARS))
    conf = lks.session_conf(jars, s3_endpoint="http://127.0.0.1:5000", warehouse_dir=tmp_path / "wh")
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:5000"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert conf["spark.driver.memory"] == "1g" and conf["spark.ui.enabled"] == "false"
    assert conf["spark.sql.shuffle.partitions"] == "4"
    assert all(str(j) in conf["spark.driver.extraClassPath"] for j in jars)
    assert conf["spark.sql.warehouse.dir"] == str((tmp_path / "wh").resolve())


def test_https_endpoint_turns_tls_on_and_no_endpoint_leaves_s3a_alone(tmp_path: Path):
    jars = lks.connector_jars(fake_jars(tmp_path / "jars", CONNECTOR_JARS))
    tls = lks.session_conf(jars, s3_endpoint="https://s3.example")
    assert tls["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "true"
    assert not any(k.startswith("spark.hadoop.fs.s3a.") for k in lks.session_conf(jars))


def test_missing_jars_say_how_to_fetch_them(tmp_path: Path):
    with pytest.raises(lks.SparkJarsMissing, match=r"install-spark-jars\.sh"):
        lks.connector_jars(tmp_path / "nowhere")
    partial = fake_jars(tmp_path / "partial", ["postgresql-42.7.8.jar"])
    with pytest.raises(lks.SparkJarsMissing) as info:
        lks.connector_jars(partial)
    assert "s3a" in str(info.value) and "Spark-Kafka" in str(info.value) and "PostgreSQL" not in str(info.value)


def test_default_jars_dir_prefers_a_complete_labs_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LABS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "xdg" / "mlops-labs" / "spark-jars").mkdir(parents=True)
    (tmp_path / "xdg" / "mlops-labs" / "spark-jars" / ".complete").write_text("x\n")
    # the LABS_CACHE_DIR one is incomplete: the complete XDG one wins
    assert lks.default_jars_dir() == tmp_path / "xdg" / "mlops-labs" / "spark-jars"
    (tmp_path / "cache" / "spark-jars").mkdir(parents=True)
    (tmp_path / "cache" / "spark-jars" / ".complete").write_text("x\n")
    assert lks.default_jars_dir() == tmp_path / "cache" / "spark-jars"


def test_jdbc_options_from_a_dsn():
    opts = lks.jdbc_options("postgresql://lab%40user:p%2Fw@127.0.0.1:5433/labs")
    assert opts == {
        "url": "jdbc:postgresql://127.0.0.1:5433/labs",
        "user": "lab@user",
        "password": "p/w",
        "driver": "org.postgresql.Driver",
    }
    assert "password" not in lks.jdbc_options("postgresql://postgres@127.0.0.1/postgres")
    with pytest.raises(ValueError, match="not a PostgreSQL DSN"):
        lks.jdbc_options("mysql://root@127.0.0.1/db")


def test_timed_returns_the_result_and_the_best_time():
    calls = []
    result, seconds = lks.timed(lambda: calls.append(1) or len(calls), repeat=3)
    assert result == 3 and len(calls) == 3 and 0 <= seconds < 1


# --------------------------------------------------------------------------- a real JVM


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server_mod = pytest.importorskip("moto.server", reason="moto[server] not installed")
    port = free_port()
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def session(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    try:
        lks.connector_jars()
    except lks.SparkJarsMissing as exc:
        pytest.skip(str(exc))
    work = tmp_path_factory.mktemp("spark")
    spark = lks.local_session(
        "labkit-test",
        s3_endpoint=moto_endpoint,
        warehouse_dir=work / "warehouse",
        local_dir=work / "tmp",
        log_file=work / "spark.log",
    )
    try:
        yield spark
    finally:
        spark.stop()


@pytest.mark.slow
def test_local_session_runs_rdd_and_dataframe_jobs_alike(session: Any):
    from pyspark.sql import functions as F

    df = session.createDataFrame([(i % 3, float(i)) for i in range(30)], "k INT, v DOUBLE")
    by_df = {r["k"]: r["total"] for r in df.groupBy("k").agg(F.sum("v").alias("total")).collect()}
    by_rdd = dict(df.rdd.map(lambda r: (r.k, r.v)).reduceByKey(lambda a, b: a + b).collect())
    assert by_df == by_rdd == {0: 135.0, 1: 145.0, 2: 155.0}
    conf = session.sparkContext.getConf()
    assert session.sparkContext.master == "local[2]"
    assert conf.get("spark.ui.enabled") == "false" and session.conf.get("spark.sql.shuffle.partitions") == "4"
    # a second call reuses the running JVM instead of starting another
    assert lks.local_session("again") is session


@pytest.mark.slow
def test_physical_plan_shows_the_join_strategy(session: Any):
    from pyspark.sql import functions as F

    big = session.range(1000).withColumn("k", F.col("id") % 10)
    small = session.range(10).withColumnRenamed("id", "k")
    assert "BroadcastHashJoin" in lks.physical_plan(big.join(F.broadcast(small), "k"))
    session.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
    try:
        plan = lks.physical_plan(big.join(small, "k"))
    finally:
        session.conf.unset("spark.sql.autoBroadcastJoinThreshold")
    assert "SortMergeJoin" in plan and "BroadcastHashJoin" not in plan


@pytest.mark.slow
@pytest.mark.services
def test_partitioned_parquet_round_trip_through_s3a(session: Any, moto_endpoint: str):
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="labkit-spark")
    df = session.createDataFrame([(i, f"2018-0{i % 3 + 1}") for i in range(60)], "id INT, month STRING")
    df.repartition("month").write.mode("overwrite").partitionBy("month").parquet("s3a://labkit-spark/t/")
    listing = s3.list_objects_v2(Bucket="labkit-spark", Prefix="t/", Delimiter="/")
    assert sorted(p["Prefix"] for p in listing["CommonPrefixes"]) == [f"t/month=2018-0{m}/" for m in (1, 2, 3)]
    back = session.read.parquet("s3a://labkit-spark/t/")
    assert back.count() == 60 and back.where("month = '2018-02'").count() == 20
