"""PostgreSQL from Debian's packages, in a private data dir under .labs/.

PostgreSQL refuses to run as root. When the harness runs as root (CI, the lab
image) the cluster is owned by and run as an unprivileged user: `labs`
(created by scripts/install-system-deps.sh), or LABS_PG_USER. Its data dir is
.labs/services/postgres/data when that user can reach it, else a folder under
/var/tmp/mlops-labs-<user>/ (recorded in services.json).
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import re
import signal
import stat
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from autograder.services.base import (
    HOST,
    ContainerSpec,
    MissingDependency,
    Running,
    Service,
    ServiceError,
    data_dir,
    pick_port,
    spawn,
    which,
)

SUPERUSER = "postgres"
DEFAULT_DB = "labs"
INSTALL = "apt-get install -y postgresql"


def dsn(host: str, port: int, db: str = DEFAULT_DB, driver: str = "postgresql") -> str:
    return f"{driver}://{SUPERUSER}@{host}:{port}/{db}"


def exports_for(host: str, port: int) -> dict[str, str]:
    return {
        "POSTGRES_DSN": dsn(host, port),
        "POSTGRES_SQLALCHEMY_URL": dsn(host, port, driver="postgresql+psycopg2"),
        "PGHOST": host,
        "PGPORT": str(port),
        "PGUSER": SUPERUSER,
        "PGDATABASE": DEFAULT_DB,
    }


def bindir() -> list[str]:
    """Debian installs server binaries outside PATH; newest version first."""
    dirs = glob.glob("/usr/lib/postgresql/*/bin")
    return sorted(dirs, key=lambda d: int(re.sub(r"\D", "", d.split("/")[-2]) or 0), reverse=True)


def run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    user = os.environ.get("LABS_PG_USER", "labs")
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise MissingDependency(
            f"postgres cannot run as root and user {user!r} does not exist: "
            "run scripts/install-system-deps.sh (creates it) or set LABS_PG_USER"
        ) from None
    return user


class Postgres(Service):
    name = "postgres"
    endpoint_var = "POSTGRES_DSN"
    start_timeout = 30.0
    stop_signal = signal.SIGINT  # "fast" shutdown: roll back clients, exit cleanly

    def start_native(self, deps: Mapping[str, Running]) -> Running:
        # Debian's versioned bindir first: initdb and postgres must come from the same major version.
        debian = [f"{d}/initdb" for d in bindir() if os.access(f"{d}/initdb", os.X_OK)]
        initdb = debian[0] if debian else which("initdb", INSTALL)
        postgres = str(Path(initdb).with_name("postgres"))
        if not os.access(postgres, os.X_OK):
            postgres = which("postgres", INSTALL, bindir())
        user = run_as()
        root = data_dir(self.name)
        if user:
            root = _root_for(user, root)
        pgdata = root / "data"
        if not (pgdata / "PG_VERSION").exists():
            cmd = [initdb, "-D", str(pgdata), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync"]
            res = subprocess.run(cmd, user=user, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                raise ServiceError(f"initdb failed:\n{res.stdout}\n{res.stderr}")
        _drop_stale_pidfile(pgdata)
        port = pick_port(self.preferred_port())
        argv = [postgres, "-D", str(pgdata), "-h", HOST, "-p", str(port), "-k", str(pgdata)]
        # Lab data is disposable: skip durability for speed; keep memory small.
        for opt in ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "shared_buffers=32MB"):
            argv += ["-c", opt]
        proc = spawn(self.name, argv, user=user)
        exports = exports_for(HOST, port)
        return Running(
            self.name,
            "native",
            exports["POSTGRES_DSN"],
            exports,
            [proc],
            {"postgres": port},
            str(self.log()),
            extra={"pgdata": str(pgdata)},
        )

    def probe(self, run: Running) -> bool:
        if "PGPORT" not in run.exports:  # external: just connect
            import psycopg2

            psycopg2.connect(run.endpoint, connect_timeout=1).close()
            return True
        # Ready = accepts connections and the default database exists (created on first probe).
        create_database(run, DEFAULT_DB, connect_timeout=1)
        return True

    def external_exports(self, value: str) -> dict[str, str]:
        return {"POSTGRES_DSN": value}

    def container_spec(self) -> ContainerSpec:
        env = {"POSTGRES_HOST_AUTH_METHOD": "trust", "POSTGRES_DB": DEFAULT_DB}
        return ContainerSpec("postgres:16", {5432: None}, env, ready_log="ready to accept connections")

    def container_exports(self, host_port: Callable[[int], int]) -> dict[str, str]:
        return exports_for(HOST, host_port(5432))

    def reset(self, run: Running, lab: str) -> dict[str, str]:
        """A fresh database per lab: `lab_<lab>` is dropped and recreated."""
        db = create_database(run, "lab_" + re.sub(r"\W", "_", lab.lower()), drop=True)
        host, port = run.exports.get("PGHOST", HOST), int(run.exports["PGPORT"])
        return {"LABS_NAMESPACE": lab, "POSTGRES_DSN": dsn(host, port, db), "PGDATABASE": db}


def create_database(run: Running, db: str, drop: bool = False, connect_timeout: int = 5) -> str:
    import psycopg2

    host, port = run.exports.get("PGHOST", HOST), int(run.exports["PGPORT"])
    conn = psycopg2.connect(host=host, port=port, user=SUPERUSER, dbname="postgres", connect_timeout=connect_timeout)
    try:
        conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
        with conn.cursor() as cur:
            if drop:
                cur.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            cur.execute("SELECT 1 FROM pg_database WHERE datname=%s", (db,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{db}"')
    finally:
        conn.close()
    return db


def _root_for(user: str, root: Path) -> Path:
    """A data root the unprivileged user can reach: under .labs/ when its parents are traversable,
    else (e.g. a 0700 home or pytest tmp dir) a per-state-dir folder under /var/tmp."""
    pw = pwd.getpwnam(user)
    if not _traversable(root, pw):
        digest = hashlib.sha1(str(root).encode()).hexdigest()[:10]
        root = Path(tempfile.gettempdir() if os.geteuid() else "/var/tmp") / f"mlops-labs-{user}" / digest
        root.mkdir(parents=True, exist_ok=True)
        os.chown(root.parent, pw.pw_uid, pw.pw_gid)
        os.chmod(root.parent, 0o700)
    for path in [root, *root.rglob("*")]:
        if path.stat().st_uid != pw.pw_uid:
            os.chown(path, pw.pw_uid, pw.pw_gid)
    return root


def _traversable(path: Path, pw: pwd.struct_passwd) -> bool:
    for parent in path.parents:
        st = parent.stat()
        if st.st_uid == pw.pw_uid:
            bit = stat.S_IXUSR
        elif st.st_gid == pw.pw_gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return False
    return True


def _drop_stale_pidfile(pgdata: Path) -> None:
    """A killed session leaves postmaster.pid; postgres refuses to start if that pid got reused."""
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"postgres" in cmdline and str(pgdata).encode() in cmdline:
            raise ServiceError(f"a postgres (pid {pid}) already runs on {pgdata}: run `labs down` first")
    except (ValueError, IndexError, ProcessLookupError, FileNotFoundError):
        pass
    pidfile.unlink(missing_ok=True)


SERVICE = Postgres()
