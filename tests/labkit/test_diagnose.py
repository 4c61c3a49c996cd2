import http.server
import threading

import pytest

from labkit import diagnose
from labkit.net import free_port


def test_parse_size_units():
    assert diagnose.parse_size("454.7kB") == 454700
    assert diagnose.parse_size("90B") == 90
    assert diagnose.parse_size("1.5GiB") == 1610612736
    assert diagnose.parse_size(" 25.28GB ") == 25280000000
    with pytest.raises(ValueError):
        diagnose.parse_size("12 parsecs")


def test_parse_duration_and_percent():
    assert diagnose.parse_duration("49.578549ms") == pytest.approx(0.049578549)
    assert diagnose.parse_duration("1m2.5s") == pytest.approx(62.5)
    assert diagnose.parse_percent("33.73%") == pytest.approx(33.73)
    assert diagnose.parse_percent("--") == 0.0
    with pytest.raises(ValueError):
        diagnose.parse_duration("soon")


def test_parse_stats_entry():
    usage = diagnose.parse_stats(
        {
            "mem_usage": "454.7kB / 25.28GB",
            "cpu_time": "1.5s",
            "cpu_percent": "33.73%",
            "net_io": "90B / 450B",
            "pids": "3",
        }
    )
    assert usage.mem_bytes == 454700 and usage.mem_limit_bytes == 25280000000
    assert usage.cpu_seconds == pytest.approx(1.5)
    assert (usage.net_rx_bytes, usage.net_tx_bytes, usage.pids) == (90, 450, 3)


def test_first_good_response_and_timeout():
    port = free_port()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert diagnose.first_good_response(f"http://127.0.0.1:{port}/", timeout=5) < 5
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(TimeoutError):
        diagnose.first_good_response(f"http://127.0.0.1:{free_port()}/", timeout=0.5)
