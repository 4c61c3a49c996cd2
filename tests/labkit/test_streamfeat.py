import pytest

from labkit.streamfeat import app_files, disorder, enrich, hopping_windows, reference_features, window_mismatches

H = 3600 * 1000


def test_hopping_windows_boundaries():
    assert hopping_windows(25 * H, 24 * H, 6 * H) == [6 * H, 12 * H, 18 * H, 24 * H]
    assert hopping_windows(30 * H, 24 * H, 6 * H) == [12 * H, 18 * H, 24 * H, 30 * H]  # end is exclusive
    assert hopping_windows(17, 10, 10) == [10]  # tumbling
    with pytest.raises(ValueError):
        hopping_windows(0, 10, 3)


def test_enrich_defaults_for_unknown_and_keeps_input():
    ev = {"product_cd": "S", "amount": 1.0}
    out = enrich(ev, {"W": {"category": "web", "risk": 0.1}}, 0.5)
    assert out == {"product_cd": "S", "amount": 1.0, "category": "unknown", "risk": 0.5}
    assert "category" not in ev
    assert enrich({"product_cd": "W"}, {"W": {"category": "web", "risk": 0.1}}, 0.5)["risk"] == 0.1


def test_reference_features_watermark_and_grace():
    ev = lambda i, ts, amt=1.0: {"event_id": i, "key": "c", "event_ts": ts, "amount": amt}  # noqa: E731
    stream = [ev("a", 10 * H), ev("b", 20 * H), ev("late-ok", 15 * H, 2.0), ev("too-late", 1 * H)]
    feats, dropped = reference_features(stream, 24 * H, 24 * H, 6 * H)
    assert dropped == ["too-late"]
    assert feats == {("c", 0): (3, 4.0)}


def test_disorder_makes_late_events_and_mismatch_report():
    events = [{"event_id": str(i), "key": "c", "event_ts": i * H, "amount": 1.0} for i in range(100)]
    stream = disorder(events, 6 * H, late_frac=0.1)
    assert sorted(e["event_id"] for e in stream) == sorted(e["event_id"] for e in events)
    _, dropped = reference_features(stream, 24 * H, 6 * H, 6 * H)
    assert 0 < len(dropped) < 10
    assert window_mismatches({("c", 0): (1, 1.0)}, {("c", 0): (1, 1.0)}) == []
    assert window_mismatches({("c", 0): (2, 1.0)}, {("c", 0): (1, 1.0)})


def test_app_files_contains_function_source():
    def accept(event_ts: int, watermark: int, grace_ms: int) -> bool:
        return event_ts >= watermark - grace_ms

    files = app_files([accept])
    assert "def accept" in files["features.py"] and "@app.agent" in files["app.py"]
