"""Streaming feature pipelines (module 23): a reference for event-time windows, watermarks and joins.

The lab runs a real Faust worker on the broker; this module is the independent, tested evaluator its
checks compare the worker's output topic against, plus the Faust app the lab writes to disk.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

UNKNOWN = {"category": "unknown", "risk": None}


def hopping_windows(ts_ms: int, size_ms: int, step_ms: int) -> list[int]:
    """Starts of every hopping window [start, start + size) that contains `ts_ms` (starts are multiples of step)."""
    if size_ms <= 0 or step_ms <= 0 or size_ms % step_ms:
        raise ValueError(f"size ({size_ms}) must be a positive multiple of step ({step_ms})")
    last = ts_ms - ts_ms % step_ms
    return [start for start in range(last - size_ms + step_ms, last + 1, step_ms) if start <= ts_ms < start + size_ms]


def enrich(event: Mapping[str, Any], reference: Mapping[str, Mapping[str, Any]], default_risk: float) -> dict[str, Any]:
    """The event plus its product's `category` and `risk` from the static table (unknown products get defaults)."""
    ref = reference.get(event.get("product_cd"), None)
    out = dict(event)
    out["category"] = ref["category"] if ref else UNKNOWN["category"]
    out["risk"] = float(ref["risk"]) if ref else float(default_risk)
    return out


def reference_features(
    stream: Sequence[Mapping[str, Any]], size_ms: int, step_ms: int, grace_ms: int
) -> tuple[dict[tuple[str, int], tuple[int, float]], list[str]]:
    """Replay `stream` in order with a watermark (max event time seen so far) and a grace period.

    An event is accepted if event_ts >= watermark - grace; accepted events update (count, amount sum)
    of every hopping window they fall in. Returns the final window features and the dropped event ids.
    """
    features: dict[tuple[str, int], tuple[int, float]] = {}
    dropped: list[str] = []
    watermark: int | None = None
    for ev in stream:
        ts = int(ev["event_ts"])
        if watermark is not None and ts < watermark - grace_ms:
            dropped.append(str(ev["event_id"]))
            continue
        watermark = ts if watermark is None else max(watermark, ts)
        for start in hopping_windows(ts, size_ms, step_ms):
            count, total = features.get((ev["key"], start), (0, 0.0))
            features[(ev["key"], start)] = (count + 1, total + float(ev["amount"]))
    return features, dropped


def disorder(
    events: Sequence[Mapping[str, Any]], grace_ms: int, late_frac: float = 0.08, seed: int = 23
) -> list[dict[str, Any]]:
    """Stream order for `events`: sorted by event time, then some events delayed past later ones.

    Half of the delayed events arrive within the grace period (watermark ahead by about grace/2),
    half beyond it (about 3 x grace): a realistic mix of out-of-order and too-late records.
    """
    rng = random.Random(seed)
    ordered = sorted((dict(e) for e in events), key=lambda e: e["event_ts"])
    chosen = set(rng.sample(range(len(ordered)), int(len(ordered) * late_frac)))
    on_time = [e for i, e in enumerate(ordered) if i not in chosen]
    late = [e for i, e in enumerate(ordered) if i in chosen]
    for n, ev in enumerate(late):
        delay = grace_ms // 2 if n % 2 == 0 else grace_ms * 3
        pos = next((i for i, e in enumerate(on_time) if e["event_ts"] > ev["event_ts"] + delay), len(on_time))
        on_time.insert(pos, ev)
    return on_time


def close_enough(a: float, b: float, tol: float = 1e-6) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def window_mismatches(
    seen: Mapping[tuple[str, int], tuple[int, float]], expected: Mapping[tuple[str, int], tuple[int, float]]
) -> list[str]:
    """Human-readable differences between two {(key, window_start): (count, sum)} tables (empty if equal)."""
    problems = []
    for k in sorted(set(seen) | set(expected)):
        got, want = seen.get(k), expected.get(k)
        if got is None or want is None or got[0] != want[0] or not close_enough(got[1], want[1], 1e-4):
            problems.append(f"{k}: expected {want}, saw {got}")
    return problems


FAUST_APP = '''"""Faust worker written by the m023 lab: event-time hopping windows with a watermark + static join."""
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import faust  # noqa: E402

import features  # noqa: E402  (your functions, written by the notebook)

CFG = json.loads((HERE / "config.json").read_text())
REFERENCE = json.loads((HERE / "reference.json").read_text())
app = faust.App(
    CFG["app_id"],
    broker="kafka://" + CFG["bootstrap"],
    value_serializer="json",
    datadir=str(HERE / "faust-data"),
    store="memory://",
    web_enabled=False,
    topic_partitions=1,
    consumer_auto_offset_reset="earliest",
)
events = app.topic(CFG["events_topic"], value_serializer="json")
out = app.topic(CFG["features_topic"], value_serializer="json")
late = app.topic(CFG["late_topic"], value_serializer="json")
STATE = {}  # (card, window_start) -> [count, amount_sum]; a faust Table would add a changelog topic
WM = {"ts": None}


@app.agent(events)
async def build(stream):
    async for event in stream.events():
        ev = event.value
        in_ms = int(event.message.timestamp * 1000)
        if ev.get("warmup"):
            await out.send(key=b"warmup", value={"warmup": True, "input_ts_ms": in_ms})
            continue
        wm = WM["ts"]
        if wm is not None and not features.accept(ev["event_ts"], wm, CFG["grace_ms"]):
            await late.send(key=ev["key"].encode(), value={**ev, "watermark": wm, "input_ts_ms": in_ms})
            continue
        WM["ts"] = ev["event_ts"] if wm is None else max(wm, ev["event_ts"])
        rich = features.enrich(ev, REFERENCE["table"], REFERENCE["default_risk"])
        for start in features.window_starts(ev["event_ts"], CFG["size_ms"], CFG["step_ms"]):
            cell = STATE.setdefault((ev["key"], start), [0, 0.0])
            cell[0] += 1
            cell[1] += float(ev["amount"])
            await out.send(
                key=ev["key"].encode(),
                value={
                    "key": ev["key"], "event_id": ev["event_id"], "event_ts": ev["event_ts"],
                    "window_start": start, "window_end": start + CFG["size_ms"],
                    "tx_count": cell[0], "amount_sum": round(cell[1], 4),
                    "category": rich["category"], "risk": rich["risk"],
                    "watermark": WM["ts"], "input_ts_ms": in_ms, "emitted_ms": int(time.time() * 1000),
                },
            )


if __name__ == "__main__":
    app.main()
'''


KSTREAMS_JAVA = r"""import java.time.Duration;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.TimestampExtractor;

/** Kafka Streams: payments -> per-card 1-day hopping window count (event time, 6 h grace). */
public class CardWindows {
  static final Pattern TS = Pattern.compile("\"event_ts\":\\s*(\\d+)");

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0], appId = args[1], in = args[2], out = args[3];
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);   // emit every update
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
    p.put(StreamsConfig.STATE_DIR_CONFIG, args[4]);
    p.put("auto.offset.reset", "earliest");
    TimestampExtractor eventTime = (rec, prev) -> {               // event time from the payload
      Matcher m = TS.matcher(String.valueOf(rec.value()));
      return m.find() ? Long.parseLong(m.group(1)) : -1L;
    };
    StreamsBuilder b = new StreamsBuilder();
    b.stream(in, Consumed.with(Serdes.String(), Serdes.String()).withTimestampExtractor(eventTime))
        .filter((k, v) -> k != null && v.contains("event_ts"))
        .groupByKey()
        .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofDays(1), Duration.ofHours(6)).advanceBy(Duration.ofHours(6)))
        .count()
        .toStream()
        .map((w, n) -> KeyValue.pair(w.key() + "@" + w.window().start(), String.valueOf(n)))
        .to(out, Produced.with(Serdes.String(), Serdes.String()));
    KafkaStreams streams = new KafkaStreams(b.build(), p);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> streams.close(
        org.apache.kafka.streams.CloseOptions.groupMembershipOperation(
            org.apache.kafka.streams.CloseOptions.GroupMembershipOperation.LEAVE_GROUP)
        .withTimeout(Duration.ofSeconds(5)))));  // leave the group at once (default: wait for session timeout)
    streams.start();
    Thread.sleep(Long.MAX_VALUE);
  }
}
"""


def kstreams_build(workdir: Path) -> tuple[Path, float]:
    """Compile `CardWindows.java` with javac against the Kafka distribution's jars (no Maven download).

    Returns the classes directory and the compile time in seconds.
    """
    from labkit.streaming import kafka_home

    src = workdir / "CardWindows.java"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(KSTREAMS_JAVA)
    classes = workdir / "classes"
    t0 = time.monotonic()
    cmd = ["javac", "-cp", f"{kafka_home() / 'libs'}/*", "-d", str(classes), str(src)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"javac failed: {done.stderr[-2000:]}")
    return classes, time.monotonic() - t0


def kstreams_command(classes: Path, args: Sequence[str]) -> list[str]:
    """`java ... -cp <classes>:<kafka libs>/* CardWindows args` with the harness's small-footprint flags."""
    from labkit.streaming import java_command

    cmd = java_command("CardWindows", args, heap_mb=256)
    i = cmd.index("-cp")
    cmd[i + 1] = f"{classes}{os.pathsep}{cmd[i + 1]}"
    return cmd


def app_files(functions: Sequence[Callable[..., Any]]) -> dict[str, str]:
    """The files of the Faust worker: app.py and features.py (the given functions' source, in order)."""
    import inspect
    import textwrap

    parts = ["from __future__ import annotations", "import math", ""]
    parts += [textwrap.dedent(inspect.getsource(fn)) for fn in functions]
    return {"app.py": FAUST_APP, "features.py": "\n\n".join(parts)}
