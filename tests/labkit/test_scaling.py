"""labkit.scaling: target tracking and step scaling arithmetic, replayed over a load curve."""

from __future__ import annotations

import numpy as np
import pytest

from labkit import scaling
from labkit.scaling import (
    StepAdjustment,
    StepScaling,
    TargetTracking,
    apply_adjustment,
    curve_from_timestamps,
    matching_step,
    read_curve,
    simulate,
    tracking_desired,
    write_curve,
)


def test_tracking_desired_is_a_clamped_ceiling():
    assert tracking_desired(4, 150, 100, 1, 10) == 6  # 4 * 1.5 = 6 exactly
    assert tracking_desired(4, 151, 100, 1, 10) == 7  # 6.04 -> 7: never below the target's capacity
    assert tracking_desired(4, 40, 100, 2, 10) == 2  # 1.6 -> 2
    assert tracking_desired(4, 10, 100, 2, 10) == 2  # 0.4 -> 1, clamped up to min 2
    assert tracking_desired(10, 300, 100, 1, 12) == 12  # 30, clamped down to max 12
    # float noise must not add an instance: 7 * (900 / 7) / 300 is 3.0000000000000004 in floats
    assert 7 * (900 / 7) / 300 > 3
    assert tracking_desired(7, 900 / 7, 300, 1, 10) == 3
    assert tracking_desired(3, 1000 / 3, 200, 1, 10) == 5  # 5.0 exactly, the floor would agree...
    assert tracking_desired(3, 1100 / 3, 200, 1, 10) == 6  # ...but here floor(5.5) = 5 would be one short
    with pytest.raises(ValueError):
        tracking_desired(3, 100, 0, 1, 10)


def test_percent_change_rounds_toward_zero_but_moves_at_least_one():
    assert apply_adjustment(10, 10, "PercentChangeInCapacity") == 11
    assert apply_adjustment(10, 30, "PercentChangeInCapacity") == 13
    assert apply_adjustment(10, 25, "PercentChangeInCapacity") == 12  # +2.5 -> +2
    assert apply_adjustment(3, 10, "PercentChangeInCapacity") == 4  # +0.3 -> +1
    assert apply_adjustment(6, -25, "PercentChangeInCapacity") == 5  # -1.5 -> -1
    assert apply_adjustment(10, -50, "PercentChangeInCapacity") == 5
    assert apply_adjustment(10, 10, "PercentChangeInCapacity", min_adjustment_magnitude=2) == 12
    assert apply_adjustment(10, 0, "PercentChangeInCapacity") == 10
    assert apply_adjustment(5, 2, "ChangeInCapacity") == 7
    assert apply_adjustment(5, -1, "ChangeInCapacity") == 4
    assert apply_adjustment(5, 3, "ExactCapacity") == 3
    with pytest.raises(ValueError, match="adjustment_type"):
        apply_adjustment(5, 1, "PercentChange")


def test_step_bounds_are_relative_to_the_threshold():
    steps = (StepAdjustment(0, 10, 1), StepAdjustment(10, 20, 2), StepAdjustment(20, None, 3))
    assert matching_step(50, 50, steps).adjustment == 1  # lower bound inclusive above the threshold
    assert matching_step(60, 50, steps).adjustment == 2  # upper bound exclusive
    assert matching_step(95, 50, steps).adjustment == 3
    assert matching_step(49, 50, steps) is None
    below = (StepAdjustment(-10, 0, -1), StepAdjustment(None, -10, -2))
    assert matching_step(30, 30, below, above=False).adjustment == -1  # upper bound inclusive below
    assert matching_step(20, 30, below, above=False).adjustment == -2  # -10: not in (-10, 0], in (-inf, -10]
    assert matching_step(19, 30, below, above=False).adjustment == -2


def test_step_policy_validation_negative_cases():
    with pytest.raises(ValueError, match="relative to the threshold"):
        # absolute bounds (300..340) on a scale-out alarm at 300 are fine, but -40 is not
        StepScaling(300, (StepAdjustment(-40, 0, 1),))
    with pytest.raises(ValueError, match="upper bounds <= 0"):
        StepScaling(100, (StepAdjustment(0, None, -1),), comparison="LessThanThreshold")
    with pytest.raises(ValueError, match="overlap"):
        StepScaling(100, (StepAdjustment(0, 20, 1), StepAdjustment(10, None, 2)))
    with pytest.raises(ValueError, match="comparison"):
        StepScaling(100, (StepAdjustment(0, None, 1),), comparison="Above")
    with pytest.raises(ValueError):
        TargetTracking(0)
    with pytest.raises(ValueError, match="min_size"):
        simulate([1, 2], [TargetTracking(10)], min_size=3, max_size=2)
    with pytest.raises(ValueError, match="warmup"):
        simulate([1, 2], [TargetTracking(10)], min_size=1, max_size=2, warmup=0)
    with pytest.raises(TypeError):
        simulate([1, 2], [{"TargetValue": 10}], min_size=1, max_size=2)


def test_target_tracking_replay_by_hand():
    # warmup 2, cooldown 2. t2: 250/1 = 250 per instance -> ceil(2.5) = 3 (floor would say 2), two
    # launched, serving from t4; t3: still 1 in service, want 3 = desired, nothing doubles; t4: 3
    # serve; t5: 100/3 per instance -> 1, 3 minutes after the change (>= cooldown 2): scale in.
    load = [100, 100, 250, 250, 250, 100, 100, 100]
    tl = simulate(load, [TargetTracking(100, scale_in_cooldown=2)], min_size=1, max_size=5, warmup=2)
    assert tl.desired.tolist() == [1, 1, 3, 3, 3, 1, 1, 1]
    assert tl.in_service.tolist() == [1, 1, 1, 1, 3, 3, 1, 1]
    assert tl.changes == [(2, 1, 3), (5, 3, 1)]
    assert tl.peak == 3
    assert tl.instance_hours == pytest.approx(14 / 60)
    assert tl.unserved(150) == pytest.approx(200)  # t2 and t3: 250 - 150 each
    assert tl.overloaded_minutes(150) == 2
    assert list(tl.to_frame().columns) == ["load", "metric", "in_service", "desired"]


def test_target_tracking_periods_cooldown_and_disable_scale_in():
    load = [100, 300, 300, 300, 300, 300, 50, 50, 50, 50, 50, 50]
    slow = simulate(load, [TargetTracking(100, scale_out_periods=3, scale_in_periods=3)], min_size=1, max_size=5)
    assert slow.changes[0] == (3, 1, 3)  # third consecutive minute above target
    assert slow.changes[1][0] == 8  # third minute below target (6, 7, 8)
    held = simulate(load, [TargetTracking(100, disable_scale_in=True)], min_size=1, max_size=5)
    assert held.desired[-1] == 3 and len(held.changes) == 1
    cooled = simulate(load, [TargetTracking(100, scale_in_cooldown=8)], min_size=1, max_size=5, warmup=1)
    assert cooled.changes == [(1, 1, 3), (9, 3, 1)]  # 8 minutes after the change at minute 1


def test_step_scaling_warmup_follows_the_aws_example():
    # AWS's example: threshold 50, +0 for [0, 10), +10% for [10, 20), +30% above; 10 instances.
    # 60 -> +1 (11); 62 while it warms -> still 11; 70 -> +30% of 10 = 3, desired 11 -> only 2 more.
    policy = StepScaling(
        50,
        (StepAdjustment(0, 10, 0), StepAdjustment(10, 20, 10), StepAdjustment(20, None, 30)),
        adjustment_type="PercentChangeInCapacity",
    )
    tl = simulate([500, 600, 620, 700, 700], [policy], min_size=1, max_size=20, initial=10, warmup=5)
    assert tl.desired.tolist() == [10, 11, 11, 13, 13]
    assert tl.in_service.tolist() == [10] * 5


def test_step_scale_in_waits_for_warmup_and_cooldown_and_largest_capacity_wins():
    out = StepScaling(100, (StepAdjustment(0, None, 2),), evaluation_periods=2)
    in_ = StepScaling(50, (StepAdjustment(None, 0, -1),), comparison="LessThanThreshold", cooldown=2)
    load = [150, 150, 150, 150, 20, 20, 20, 20, 20, 20]
    tl = simulate(load, [out, in_], min_size=1, max_size=5, initial=1, warmup=2)
    # t1: second minute at 150 >= 100: +2 -> 3 (serving from t3); t4..: 20/3 < 50 -> -1 every 2 minutes
    assert tl.changes == [(1, 1, 3), (4, 3, 2), (6, 2, 1)]
    # a scale-out (50 >= 40: +1) and a scale-in (target tracking wants 1) in the same minute: scale-out wins
    both = simulate(
        [150], [StepScaling(40, (StepAdjustment(0, None, 1),)), TargetTracking(1000)], min_size=1, max_size=5, initial=3
    )
    assert both.desired.tolist() == [4]


def test_exact_capacity_and_clamping():
    policy = StepScaling(100, (StepAdjustment(0, None, 8),), adjustment_type="ExactCapacity")
    tl = simulate([50, 200, 200], [policy], min_size=2, max_size=6)
    assert tl.desired.tolist() == [2, 6, 6]  # ExactCapacity 8, clamped to max 6


def test_curve_from_timestamps_folds_smooths_and_scales(tmp_path):
    secs = np.array([0, 30, 60, 86_400 + 61, 86_400 + 7200])  # two days folded onto one
    raw = curve_from_timestamps(secs, smooth=1)
    assert raw.shape == (1440,) and raw[0] == 2 and raw[1] == 2 and raw[120] == 1 and raw.sum() == 5
    smooth = curve_from_timestamps(secs * 1.0, smooth=3, peak_rpm=300)
    # moving average over 3 bins, circular: bin 0 is (raw[1439] + raw[0] + raw[1]) / 3 = 4/3, the
    # maximum, scaled to 300 (x 225); bin 1439 is (0 + 0 + 2) / 3 = 2/3 -> 150; bins 119-121 1/3 -> 75
    assert smooth.max() == 300 and smooth[0] == 300 and smooth[1] == 300
    assert smooth[1439] == 150 and smooth[2] == 150
    assert smooth[119:122].tolist() == [75, 75, 75] and smooth[122] == 0
    path = write_curve(tmp_path / "curve.csv", smooth)
    assert path.read_text().splitlines()[0] == "minute,requests"
    assert read_curve(path).tolist() == smooth.tolist()
    path.write_text("minute,requests\n0,5\n2,6\n")
    with pytest.raises(ValueError, match="in order"):
        read_curve(path)
    with pytest.raises(ValueError, match="multiple"):
        curve_from_timestamps(secs, bin_s=7)


def test_module_constants():
    assert scaling.ADJUSTMENT_TYPES == ("ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity")
    assert set(scaling.COMPARISONS) >= {"GreaterThanOrEqualToThreshold", "LessThanThreshold"}
