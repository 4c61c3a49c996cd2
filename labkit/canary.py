"""Canary and blue/green traffic on this machine: reload nginx with new upstream weights, send a
bounded load through it, and count each upstream's answers and errors from a response header.

- `reload_nginx(proxy, server_blocks)`: write the new config, `nginx -t` it, `nginx -s reload`, and
  wait until the old worker processes have exited, so every later request sees the new config;
- `send_traffic(url, payloads, header)`: POST each JSON payload, one connection per request like
  independent clients, and tally {version: {"requests": n, "errors": e}} from `header`
  (responses without it, e.g. nginx's own 502, count under "nginx");
- `upstream_servers(conf_text)`: the `server` lines of every upstream block, as nginx will read them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from labkit.nginx import nginx_binary, render_config
from labkit.process import ManagedProcess


def _children(pid: int) -> set[int]:
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return kids


def reload_nginx(proxy: ManagedProcess, server_blocks: str, timeout: float = 20.0) -> Path:
    """Apply new server blocks to a running nginx (started by labkit.nginx.run_nginx); returns the conf."""
    conf = Path(proxy.proc.args[proxy.proc.args.index("-c") + 1])
    work = conf.parent
    candidate = work / "nginx.next.conf"
    candidate.write_text(render_config(server_blocks, work))
    binary = nginx_binary()
    test = subprocess.run(
        [binary, "-t", "-q", "-p", str(work), "-c", str(candidate)], capture_output=True, text=True, timeout=30
    )
    if test.returncode != 0:
        raise ValueError(f"nginx rejected the new configuration (the old one stays in effect):\n{test.stderr}")
    old_workers = _children(proxy.pid)
    candidate.replace(conf)
    subprocess.run([binary, "-s", "reload", "-p", str(work), "-c", str(conf)], check=True, capture_output=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = {p for p in old_workers if os.path.exists(f"/proc/{p}")} & _children(proxy.pid)
        if not alive and _children(proxy.pid):
            return conf
        time.sleep(0.05)
    raise TimeoutError(f"nginx did not replace its workers within {timeout:.0f} s")


def send_traffic(url: str, payloads, header: str = "X-Model-Version", timeout: float = 5.0) -> dict[str, dict]:
    """POST each payload to `url`; {version: {"requests": n, "errors": e}} (errors: status >= 500 or no answer)."""
    stats: dict[str, dict] = {}
    for payload in payloads:
        req = urllib.request.Request(
            url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, version = resp.status, resp.headers.get(header)
        except urllib.error.HTTPError as exc:
            status, version = exc.code, exc.headers.get(header)
        except OSError:
            status, version = 599, None
        entry = stats.setdefault(version or "nginx", {"requests": 0, "errors": 0})
        entry["requests"] += 1
        entry["errors"] += int(status >= 500)
    return stats


def upstream_servers(conf_text: str) -> list[dict]:
    """[{upstream, address, weight, down, backup}] for every `server` line inside `upstream` blocks."""
    found = []
    for name, body in re.findall(r"upstream\s+(\S+)\s*\{(.*?)\}", conf_text, flags=re.S):
        for line in re.findall(r"^\s*server\s+([^;]+);", body, flags=re.M):
            address, *flags = line.split()
            weight = next((int(f.split("=", 1)[1]) for f in flags if f.startswith("weight=")), 1)
            found.append(
                {
                    "upstream": name,
                    "address": address,
                    "weight": weight,
                    "down": "down" in flags,
                    "backup": "backup" in flags,
                }
            )
    return found
