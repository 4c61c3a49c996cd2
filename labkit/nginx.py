"""Run Debian's nginx from a notebook: you write the `server { ... }` block, this adds the plumbing.

The plumbing (pid file, temp dirs, logs, foreground mode) is the same for
every lab and hides nothing about proxying, TLS or auth, which live in the
server block.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from pathlib import Path

from labkit.net import port_open
from labkit.process import ManagedProcess, start_process

_MAIN = """\
{user}worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 128; }}
http {{
    access_log {work}/access.log;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
{servers}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise FileNotFoundError("nginx is not installed: `apt-get install -y nginx-light` (or nginx)")
    return found


def htpasswd_line(user: str, password: str, salt: bytes | None = None) -> str:
    """One auth_basic_user_file line in nginx's salted-SHA1 ({SSHA}) format."""
    salt = salt if salt is not None else os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return f"{user}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n"


def render_config(server_blocks: str, work: Path) -> str:
    # As root, nginx workers drop to `nobody`, who could not read files under a private home.
    user = "user root;\n" if os.geteuid() == 0 else ""
    indented = "\n".join("    " + line if line else line for line in server_blocks.strip().splitlines())
    return _MAIN.format(user=user, work=work, servers=indented)


def run_nginx(server_blocks: str, work: Path | str, port: int, timeout: float = 20.0) -> ManagedProcess:
    """Write nginx.conf around `server_blocks`, test it with `nginx -t`, start it, wait for `port`."""
    work = Path(work).resolve()
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    conf = work / "nginx.conf"
    conf.write_text(render_config(server_blocks, work))
    binary = nginx_binary()
    check = start_process(
        "nginx-config-test", [binary, "-t", "-q", "-p", str(work), "-c", str(conf)], ready=lambda: True, log_dir=work
    )
    check.proc.wait(timeout)
    if check.proc.returncode != 0:
        raise ValueError(f"nginx rejected the configuration:\n{check.log_tail()}")
    return start_process(
        "nginx",
        [binary, "-p", str(work), "-c", str(conf)],
        ready=lambda: port_open(port),
        log_dir=work,
        timeout=timeout,
    )
