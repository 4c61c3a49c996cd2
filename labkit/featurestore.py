"""Feast plumbing the feature-store labs share: a repo config for a Redis online store, project names
from RUN_ID, the fraud data's event times and card ids, and cleanup of a project's Redis keys.

Nothing here defines features: each lab writes its own entities and feature views.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

# TransactionDT counts seconds from this reference date (see datasets/cards/fraud.md)
FRAUD_REFERENCE = pd.Timestamp("2017-12-01", tz="UTC")


def project_name(prefix: str, run_id: str) -> str:
    """A Feast project name (letters, digits, underscores) made from a prefix and RUN_ID."""
    return re.sub(r"[^a-z0-9_]", "_", f"{prefix}_{run_id}".lower())


def redis_connection_string(redis_url: str) -> str:
    """Feast's Redis connection string (`host:port,db=N[,password=...]`) from a `redis://` URL."""
    url = urlparse(redis_url)
    parts = [f"{url.hostname or '127.0.0.1'}:{url.port or 6379}"]
    db = (url.path or "/0").strip("/") or "0"
    parts.append(f"db={db}")
    if url.password:
        parts.append(f"password={url.password}")
    if url.scheme == "rediss":
        parts.append("ssl=true")
    return ",".join(parts)


def write_repo_config(repo: Path, project: str, redis_url: str, registry: Path | None = None) -> Path:
    """Write `feature_store.yaml` for a local-file registry, the file (Dask) offline store and Redis.

    Only the yaml goes into `repo`: `feast apply` on the CLI imports every .py file in the repo
    directory, so labs keep definitions in the notebook and call `FeatureStore.apply()`.
    """
    repo = Path(repo)
    repo.mkdir(parents=True, exist_ok=True)
    registry = Path(registry) if registry else repo / "registry.db"
    (repo / "feature_store.yaml").write_text(
        f"""project: {project}
provider: local
registry:
  registry_type: file
  path: {registry.resolve()}
  cache_ttl_seconds: 0
offline_store:
  type: file
online_store:
  type: redis
  connection_string: "{redis_connection_string(redis_url)}"
entity_key_serialization_version: 3
"""
    )
    return repo / "feature_store.yaml"


def drop_project_keys(redis_url: str, project: str) -> int:
    """Delete every Redis key the Feast Redis online store wrote for `project` (keys end with it)."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    deleted = 0
    with client.pipeline(transaction=False) as pipe:
        for key in client.scan_iter(match=b"*" + project.encode(), count=1000):
            if key.endswith(project.encode()):
                pipe.delete(key)
                deleted += 1
        pipe.execute()
    client.close()
    return deleted


def event_time(tx: pd.DataFrame) -> pd.Series:
    """UTC event timestamps of fraud transactions (`TransactionDT` seconds after the reference date)."""
    return FRAUD_REFERENCE + pd.to_timedelta(tx["TransactionDT"], unit="s")


def card_ids(tx: pd.DataFrame) -> pd.Series:
    """A string id per card: (`card1`, `addr1`) identifies a card; a missing `addr1` becomes -1."""
    return tx["card1"].astype(str) + "-" + tx["addr1"].fillna(-1).astype(int).astype(str)
