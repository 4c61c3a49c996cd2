"""labkit.quality: drift statistics and their decisions, planted defects, the gate's verdict."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from labkit import quality as q


def test_psi_of_identical_shares_is_zero_and_grows_with_shift():
    assert q.psi([0.25] * 4, [0.25] * 4) == 0.0
    small = q.psi([0.25] * 4, [0.3, 0.2, 0.25, 0.25])
    large = q.psi([0.25] * 4, [0.1, 0.2, 0.3, 0.4])
    assert 0 < small < large
    # hand-computed: sum((a - e) ln(a / e)) for the large shift
    expected = sum((a - 0.25) * math.log(a / 0.25) for a in (0.1, 0.2, 0.3, 0.4))
    assert large == pytest.approx(expected)


def test_psi_floors_empty_bins_and_rejects_mismatched_vectors():
    assert math.isfinite(q.psi([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]))
    with pytest.raises(ValueError):
        q.psi([0.5, 0.5], [1.0])


def test_bin_fractions_and_quantile_edges():
    assert np.allclose(q.bin_fractions([0.5, 1.5, 1.5, 2.0, 9.0], np.array([1.0, 2.0, 3.0])), [0.2, 0.4, 0.2, 0.2])
    edges = q.quantile_edges(np.arange(100), bins=4)
    assert len(edges) == 3
    assert np.allclose(q.bin_fractions(np.arange(100), edges), 0.25, atol=0.02)


def test_numeric_drift_detected_by_ks_and_psi_but_not_on_same_distribution():
    rng = np.random.default_rng(0)
    ref, same, shifted = rng.normal(0, 1, 4000), rng.normal(0, 1, 3000), rng.normal(0.5, 1, 3000)
    assert q.psi_numeric(ref, same) < 0.02
    assert q.psi_numeric(ref, shifted) > 0.15
    stable = q.ks_drift("x", ref, same, alpha=1e-3)
    moved = q.ks_drift("x", ref, shifted, alpha=1e-3)
    assert not stable.drifted and stable.p_value > 1e-3
    assert moved.drifted and moved.test == "ks" and moved.statistic > 0.1


def test_categorical_psi_counts_missing_and_unseen_categories():
    ref = pd.Series(["a"] * 50 + ["b"] * 50)
    assert q.psi_categorical(ref, ref) == 0.0
    with_missing = pd.Series(["a"] * 50 + [None] * 50)
    assert q.psi_categorical(ref, with_missing) > 1.0
    unseen = q.psi_drift("c", ref, pd.Series(["a"] * 50 + ["z"] * 50), threshold=0.1, categorical=True)
    assert unseen.drifted and math.isnan(unseen.p_value)
    # negative case: a loose threshold lets the same shift through
    assert not q.psi_drift("c", ref, pd.Series(["a"] * 55 + ["b"] * 45), threshold=0.1, categorical=True).drifted


def _batch(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    info = np.where(rng.random(n) < 0.3, None, "Windows")
    return pd.DataFrame(
        {
            "TransactionID": np.arange(3_000_000, 3_000_000 + n),
            "TransactionAmt": rng.uniform(1, 500, n).round(2),
            "ProductCD": rng.choice(list("WCRHS"), n),
            "DeviceType": np.where(pd.isna(info), None, "desktop"),
            "DeviceInfo": info,
        }
    )


@pytest.mark.parametrize("kind", q.DEFECTS)
def test_each_defect_changes_the_batch_and_leaves_the_original_alone(kind):
    batch = _batch()
    before = batch.copy()
    bad = q.plant_defect(batch, kind, n=10, seed=3)
    pd.testing.assert_frame_equal(batch, before)
    assert not bad.equals(batch)


def test_defects_are_what_they_say():
    batch = _batch()
    assert q.plant_defect(batch, "null_key", n=10)["TransactionID"].isna().sum() == 10
    assert str(q.plant_defect(batch, "null_key", n=10)["TransactionID"].dtype) == "Int64"
    assert q.plant_defect(batch, "duplicate_key", n=10)["TransactionID"].duplicated().sum() == 10
    assert (q.plant_defect(batch, "negative_amount", n=10)["TransactionAmt"] < 0).sum() == 10
    assert (~q.plant_defect(batch, "unknown_category", n=10)["ProductCD"].isin(list("WCRHS"))).sum() == 10
    assert len(q.plant_defect(batch, "truncated", n=10)) == 10
    assert "DeviceInfo" not in q.plant_defect(batch, "missing_column")
    odd = q.plant_defect(batch, "inconsistent_device", n=10)
    assert (odd["DeviceType"].isna() & odd["DeviceInfo"].notna()).sum() == 10
    with pytest.raises(ValueError):
        q.plant_defect(batch, "cosmic_rays")


def test_gate_runs_every_check_and_blocks_on_failure(tmp_path):
    ran = []

    def ok():
        ran.append("ok")
        return True

    def bad():
        ran.append("bad")
        return False, {"rows": 3}

    def late():
        ran.append("late")
        return np.bool_(True)

    verdict = q.run_gate({"bad": bad, "ok": ok, "late": late})
    assert ran == ["bad", "ok", "late"], "every check runs, even after a failure"
    assert not verdict.passed and verdict.failed == ["bad"] and verdict.status == "failed"
    with pytest.raises(q.QualityGateError) as info:
        verdict.raise_for_status()
    assert info.value.verdict is verdict
    saved = json.loads(verdict.write_json(tmp_path / "v.json").read_text())
    assert saved["status"] == "failed" and saved["checks"][0]["details"] == {"rows": 3}
    suite = ET.parse(verdict.write_junit(tmp_path / "v.xml")).getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    assert suite.find("testcase[@name='bad']/failure") is not None


def test_gate_fails_closed_on_errors_and_non_boolean_answers():
    def boom():
        raise RuntimeError("validator crashed")

    verdict = q.run_gate({"boom": boom, "none": lambda: None, "truthy": lambda: {"success": False}})
    assert verdict.failed == ["boom", "none", "truthy"]
    assert "validator crashed" in verdict.checks[0].details["error"]
    assert "expected True or False" in verdict.checks[2].details["error"]


def test_warn_only_checks_report_but_do_not_block():
    verdict = q.run_gate({"schema": lambda: True, "drift": lambda: False}, warn_only=["drift"])
    assert verdict.passed and verdict.status == "passed_with_warnings" and verdict.warnings == ["drift"]
    verdict.raise_for_status()
    with pytest.raises(ValueError):
        q.run_gate({"schema": lambda: True}, warn_only=["typo"])
