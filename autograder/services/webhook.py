"""A tiny Alertmanager webhook receiver: appends each notification to a JSONL file.

Run as `python -m autograder.services.webhook --port N --out alerts.jsonl`.
POST (any path) → one line; GET /alerts → all notifications as a JSON list; GET /health → ok.
Standard library only, so it starts in a few tens of milliseconds.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_lock = threading.Lock()


def read_alerts(path: Path | str) -> list[dict[str, object]]:
    """Notifications received so far (each: received_at, path, payload)."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def make_handler(out: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                payload: object = json.loads(body or b"null")
            except json.JSONDecodeError:
                payload = body.decode(errors="replace")
            record = {"received_at": time.time(), "path": self.path, "payload": payload}
            with _lock, open(out, "a") as fh:
                fh.write(json.dumps(record) + "\n")
            self._send(200, b'{"status": "ok"}')

        def do_GET(self) -> None:
            if self.path.startswith("/health"):
                self._send(200, b"ok")
            elif self.path.startswith("/alerts"):
                self._send(200, json.dumps(read_alerts(out)).encode())
            else:
                self._send(404, b"not found")

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args: object) -> None:
            print(f"{self.address_string()} {fmt % args}", flush=True)

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.touch()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(args.out))
    print(f"webhook receiver on http://{args.host}:{args.port} → {args.out}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
