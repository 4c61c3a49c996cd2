"""Auto Scaling arithmetic, replayed minute by minute over a recorded load curve.

EC2 Auto Scaling (and Application Auto Scaling, which scales ECS services and SageMaker endpoint
variants) decides capacity with a few lines of arithmetic. This module is that arithmetic, small
enough to check by hand, and a replay loop that applies it to a load curve (requests per minute):

- target tracking: ``desired = ceil(current * metric / target)``, clamped to ``[min, max]``; the
  metric must be per instance (requests per target, average CPU), so it falls as capacity grows;
- step scaling: an alarm compares the metric with a threshold; the step whose interval (bounds
  *relative to the threshold*) holds ``metric - threshold`` gives the adjustment, which is a
  ``ChangeInCapacity``, a ``PercentChangeInCapacity`` (rounded toward zero, at least 1) or an
  ``ExactCapacity``;
- warmup: a launched instance serves (and counts in the metric) only ``warmup`` minutes later, and
  instances still warming are not counted as current capacity when a policy scales out again;
- scale-in is conservative: never while instances are warming, and only `cooldown` minutes or more
  after the last change (a change at minute 2 and a cooldown of 3 allow a scale-in from minute 5).

`simulate(load, policies, min_size=..., max_size=...)` returns a `Timeline` (in-service and desired
capacity per minute, peak, instance-hours, requests beyond capacity). When several policies fire in
the same minute, the one giving the largest capacity wins, for scale-out and scale-in alike, as in
EC2 Auto Scaling.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ADJUSTMENT_TYPES = ("ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity")
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": lambda m, t: m >= t,
    "GreaterThanThreshold": lambda m, t: m > t,
    "LessThanThreshold": lambda m, t: m < t,
    "LessThanOrEqualToThreshold": lambda m, t: m <= t,
}


def clamp(value: int, min_size: int, max_size: int) -> int:
    return max(min_size, min(max_size, value))


def tracking_desired(current: int, metric: float, target: float, min_size: int, max_size: int) -> int:
    """Target tracking's capacity: ceil(current * metric / target), clamped to [min_size, max_size].

    Rounded to 9 decimals before the ceiling, so that float noise (7 instances sharing 900
    requests: 7 * (900 / 7) / 300 = 3.0000000000000004) does not add an instance.
    """
    if target <= 0:
        raise ValueError(f"target must be positive, got {target}")
    return clamp(math.ceil(round(current * metric / target, 9)), min_size, max_size)


@dataclass(frozen=True)
class StepAdjustment:
    """One step: bounds relative to the alarm threshold (None = unbounded), and its ScalingAdjustment."""

    lower: float | None
    upper: float | None
    adjustment: float

    def holds(self, delta: float, above: bool) -> bool:
        """Does `delta` = metric - threshold fall in this step? AWS: above the threshold the lower
        bound is inclusive and the upper exclusive; below it, the other way round."""
        lo = -math.inf if self.lower is None else self.lower
        hi = math.inf if self.upper is None else self.upper
        return lo <= delta < hi if above else lo < delta <= hi


def matching_step(
    metric: float, threshold: float, steps: Sequence[StepAdjustment], above: bool = True
) -> StepAdjustment | None:
    """The step whose interval holds metric - threshold, or None."""
    return next((s for s in steps if s.holds(metric - threshold, above)), None)


def apply_adjustment(capacity: int, adjustment: float, adjustment_type: str, min_adjustment_magnitude: int = 0) -> int:
    """The new capacity (before clamping) after one step adjustment.

    PercentChangeInCapacity: the change is `capacity * adjustment / 100` rounded toward zero, but at
    least 1 instance either way (+0.3 -> +1, -1.5 -> -1, +2.5 -> +2), and at least
    `min_adjustment_magnitude` when that is set.
    """
    if adjustment_type == "ExactCapacity":
        return int(adjustment)
    if adjustment_type == "ChangeInCapacity":
        return capacity + int(adjustment)
    if adjustment_type != "PercentChangeInCapacity":
        raise ValueError(f"adjustment_type must be one of {ADJUSTMENT_TYPES}, got {adjustment_type!r}")
    raw = capacity * adjustment / 100.0
    if raw == 0:
        return capacity
    change = max(1, math.floor(round(abs(raw), 9)), min_adjustment_magnitude)
    return capacity + (change if raw > 0 else -change)


@dataclass(frozen=True)
class TargetTracking:
    """Keep `target` (metric per instance). The alarms AWS creates for you want `scale_out_periods`
    consecutive minutes above the target to scale out and `scale_in_periods` below it to scale in
    (EC2 Auto Scaling: 3 and 15); `scale_in_cooldown` is Application Auto Scaling's ScaleInCooldown."""

    target: float
    scale_out_periods: int = 1
    scale_in_periods: int = 1
    scale_in_cooldown: int = 0
    disable_scale_in: bool = False

    def __post_init__(self) -> None:
        if self.target <= 0:
            raise ValueError(f"target must be positive, got {self.target}")
        if self.scale_out_periods < 1 or self.scale_in_periods < 1 or self.scale_in_cooldown < 0:
            raise ValueError("periods must be >= 1 and the cooldown >= 0")


@dataclass(frozen=True)
class StepScaling:
    """A step scaling policy with its CloudWatch alarm (metric `comparison` threshold for
    `evaluation_periods` consecutive minutes). Scale-out steps have bounds >= 0, scale-in steps <= 0."""

    threshold: float
    steps: tuple[StepAdjustment, ...]
    comparison: str = "GreaterThanOrEqualToThreshold"
    adjustment_type: str = "ChangeInCapacity"
    evaluation_periods: int = 1
    min_adjustment_magnitude: int = 0
    cooldown: int = 0

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise ValueError(f"comparison must be one of {sorted(COMPARISONS)}, got {self.comparison!r}")
        if self.adjustment_type not in ADJUSTMENT_TYPES:
            raise ValueError(f"adjustment_type must be one of {ADJUSTMENT_TYPES}, got {self.adjustment_type!r}")
        if not self.steps or self.evaluation_periods < 1 or self.cooldown < 0:
            raise ValueError("a step policy needs steps, evaluation_periods >= 1 and a cooldown >= 0")
        above = self.above
        for step in self.steps:
            lo = -math.inf if step.lower is None else step.lower
            hi = math.inf if step.upper is None else step.upper
            if lo >= hi:
                raise ValueError(f"step {step}: the lower bound must be below the upper bound")
            if (above and lo < 0) or (not above and hi > 0):
                raise ValueError(
                    f"step {step}: bounds are relative to the threshold ({self.threshold}); an alarm "
                    f"{self.comparison} needs {'lower bounds >= 0' if above else 'upper bounds <= 0'}"
                )
        ordered = sorted(self.steps, key=lambda s: -math.inf if s.lower is None else s.lower)
        for a, b in itertools.pairwise(ordered):
            a_hi = math.inf if a.upper is None else a.upper
            b_lo = -math.inf if b.lower is None else b.lower
            if a_hi > b_lo:
                raise ValueError(f"steps {a} and {b} overlap")

    @property
    def above(self) -> bool:
        return self.comparison.startswith("Greater")


Policy = TargetTracking | StepScaling


@dataclass(frozen=True)
class _State:
    metric: float
    in_service: int
    desired: int
    warming: bool
    since_change: int
    min_size: int
    max_size: int


def _propose(policy: Policy, count: list[int], s: _State) -> int | None:
    """The capacity `policy` asks for this minute, or None; `count` holds its consecutive (high, low) minutes."""
    if isinstance(policy, TargetTracking):
        count[0] = count[0] + 1 if s.metric > policy.target else 0
        count[1] = count[1] + 1 if s.metric < policy.target else 0
        want = tracking_desired(s.in_service, s.metric, policy.target, s.min_size, s.max_size)
        if want > s.desired:
            return want if count[0] >= policy.scale_out_periods else None
        scale_in_ok = not (policy.disable_scale_in or s.warming) and s.since_change >= policy.scale_in_cooldown
        return want if want < s.desired and scale_in_ok and count[1] >= policy.scale_in_periods else None
    count[0] = count[0] + 1 if COMPARISONS[policy.comparison](s.metric, policy.threshold) else 0
    if count[0] < policy.evaluation_periods:
        return None
    step = matching_step(s.metric, policy.threshold, policy.steps, policy.above)
    if step is None:
        return None
    # instances still warming are not current capacity: a second breach in the same step adds
    # nothing, a breach in a higher step adds only the difference
    new = apply_adjustment(s.in_service, step.adjustment, policy.adjustment_type, policy.min_adjustment_magnitude)
    want = clamp(new, s.min_size, s.max_size)
    if want > s.desired or (want < s.desired and not s.warming and s.since_change >= policy.cooldown):
        return want
    return None


@dataclass
class Timeline:
    """Capacity per minute: `in_service` served minute t, `desired` is the capacity after minute t's decision."""

    load: np.ndarray
    metric: np.ndarray
    in_service: np.ndarray
    desired: np.ndarray
    min_size: int
    max_size: int
    warmup: int
    changes: list[tuple[int, int, int]] = field(default_factory=list)  # (minute, from, to)

    @property
    def peak(self) -> int:
        return int(self.desired.max())

    @property
    def instance_hours(self) -> float:
        """Instance-hours paid: every instance launched is billed, warming or not."""
        return float(self.desired.sum()) / 60.0

    def unserved(self, capacity_per_instance: float) -> float:
        """Requests beyond what the in-service instances could serve (each `capacity_per_instance` a minute)."""
        return float(np.clip(self.load - self.in_service * capacity_per_instance, 0, None).sum())

    def overloaded_minutes(self, capacity_per_instance: float) -> int:
        return int((self.load > self.in_service * capacity_per_instance).sum())

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(
            {"load": self.load, "metric": self.metric, "in_service": self.in_service, "desired": self.desired}
        ).rename_axis("minute")


def simulate(
    load: Sequence[float] | np.ndarray,
    policies: Sequence[Policy],
    *,
    min_size: int,
    max_size: int,
    initial: int | None = None,
    warmup: int = 3,
) -> Timeline:
    """Replay `policies` over `load` (requests per minute); the metric is requests per in-service instance.

    Each minute: instances whose warmup ended join; the metric is load / in-service; every policy
    proposes a capacity; the largest scale-out wins, else the largest (mildest) scale-in; the result
    is clamped to [min_size, max_size]. A launch at minute t serves from minute t + warmup.
    """
    if not 1 <= min_size <= max_size:
        raise ValueError(f"need 1 <= min_size <= max_size, got {min_size}, {max_size}")
    if warmup < 1:
        raise ValueError(f"warmup is in whole minutes and at least 1, got {warmup}")
    for policy in policies:
        if not isinstance(policy, TargetTracking | StepScaling):
            raise TypeError(f"not a scaling policy: {policy!r}")
    load_arr = np.asarray(load, dtype=float)
    n = len(load_arr)
    desired = clamp(initial if initial is not None else min_size, min_size, max_size)
    in_service, pending = desired, []  # pending: minute each warming instance starts serving
    since_change = 10**9
    counters = [[0, 0] for _ in policies]  # per policy: consecutive minutes (high, low)
    out = {k: np.zeros(n) for k in ("metric", "in_service", "desired")}
    changes: list[tuple[int, int, int]] = []
    for t in range(n):
        since_change += 1  # minutes since the last change, at this minute's decision
        in_service += sum(1 for r in pending if r <= t)
        pending = [r for r in pending if r > t]
        metric = load_arr[t] / in_service
        state = _State(metric, in_service, desired, bool(pending), since_change, min_size, max_size)
        proposals = [
            p
            for p in (_propose(policy, count, state) for policy, count in zip(policies, counters, strict=True))
            if p is not None
        ]
        ups = [p for p in proposals if p > desired]
        downs = [p for p in proposals if p < desired]
        new = max(ups) if ups else max(downs) if downs else desired
        out["metric"][t], out["in_service"][t] = metric, in_service  # what served minute t
        if new != desired:
            changes.append((t, desired, new))
            if new > desired:
                pending += [t + warmup] * (new - desired)
            else:
                drop = desired - new
                from_pending = min(drop, len(pending))
                pending = sorted(pending)[: len(pending) - from_pending]
                in_service -= drop - from_pending
            desired, since_change = new, 0
        out["desired"][t] = desired
    return Timeline(
        load=load_arr,
        metric=out["metric"],
        in_service=out["in_service"].astype(int),
        desired=out["desired"].astype(int),
        min_size=min_size,
        max_size=max_size,
        warmup=warmup,
        changes=changes,
    )


def curve_from_timestamps(
    seconds: Sequence[float] | np.ndarray,
    *,
    bin_s: int = 60,
    period_s: int = 86_400,
    smooth: int = 15,
    peak_rpm: float | None = None,
) -> np.ndarray:
    """A load curve from event timestamps: events per `bin_s` bin of one `period_s` cycle (all
    cycles folded together, e.g. every day's 09:00-09:01 in one bin), a circular moving average over
    `smooth` bins, scaled so its maximum is `peak_rpm` (if given), rounded to whole requests."""
    if period_s % bin_s:
        raise ValueError("period_s must be a multiple of bin_s")
    secs = np.asarray(seconds, dtype=float)
    bins = period_s // bin_s
    counts = np.bincount(((secs % period_s) // bin_s).astype(int), minlength=bins).astype(float)
    if smooth > 1:
        kernel = np.ones(smooth) / smooth
        padded = np.concatenate([counts[-(smooth // 2) :], counts, counts[: smooth - 1 - smooth // 2]])
        counts = np.convolve(padded, kernel, mode="valid")
    if peak_rpm is not None:
        counts = counts * (peak_rpm / counts.max())
    return np.rint(counts).astype(int)


def write_curve(path: Path | str, load: Sequence[float] | np.ndarray) -> Path:
    """Save a curve as CSV: minute,requests."""
    path = Path(path)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["minute", "requests"])
        writer.writerows((i, int(v)) for i, v in enumerate(load))
    return path


def read_curve(path: Path | str) -> np.ndarray:
    """Read a minute,requests CSV back (rows must be minutes 0, 1, 2, ... in order)."""
    with Path(path).open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    minutes = [int(r["minute"]) for r in rows]
    if minutes != list(range(len(rows))):
        raise ValueError(f"{path}: minutes must run 0..{len(rows) - 1} in order")
    return np.array([float(r["requests"]) for r in rows])
