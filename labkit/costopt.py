"""Cost optimisation arithmetic for the AWS labs: right-sizing, Spot with interruptions, S3 classes, RDS.

Everything here is computed from stated inputs and dated list prices; nothing asks AWS for a bill.
Prices extend :mod:`labkit.pricing` (same date, region and caveats: check ``pricing.PRICING_PAGES``
before spending money):

- ``EC2_MORE_SIZES``: the ``large``/``xlarge``/``8xlarge`` sizes of the c6i/m6i/r6i families, so a
  right-sizing can step down (or up) by more than one size; :data:`EC2_PRICES` holds all priced types.
- ``RDS_POSTGRES``: RDS for PostgreSQL on-demand, single-AZ, us-east-1. A Multi-AZ instance (one
  standby) bills the instance and its storage twice. Reserved instances are not modelled.

Models (each states its assumptions in its docstring):

- :func:`rightsize`: the cheapest type whose capacity keeps the observed p95 utilisation under a
  target, for CPU and memory at once (vCPUs of c6i/m6i/r6i are the same Ice Lake cores, so CPU
  demand carries over between these families; across CPU generations or architectures it does not);
- :func:`expected_runtime_hours`: a checkpointed job on Spot capacity with Poisson interruptions
  (:func:`simulate_runtime_hours` checks it by Monte Carlo);
- :func:`s3_pattern_cost`: storing a dataset in one S3 class for its lifetime and reading part of it
  every month, with the class's minimum billable duration;
- :func:`rds_monthly_cost`: instance hours, Multi-AZ and gp3 storage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from labkit import pricing
from labkit.pricing import HOURS_PER_MONTH, InstancePrice

__all__ = [
    "DAYS_PER_MONTH",
    "EC2_MORE_SIZES",
    "EC2_PRICES",
    "PRICES_AS_OF",
    "RDS_BACKUP_USD_PER_GB_MONTH",
    "RDS_GP3_USD_PER_GB_MONTH",
    "RDS_POSTGRES",
    "RdsPrice",
    "Recommendation",
    "cpu_instance_table",
    "expected_interruptions",
    "expected_runtime_hours",
    "interruptions_per_hour",
    "p95",
    "rds_monthly_cost",
    "rightsize",
    "s3_pattern_cost",
    "simulate_runtime_hours",
    "young_daly_interval",
]

PRICES_AS_OF = pricing.PRICES_AS_OF
DAYS_PER_MONTH = 30  # S3 bills storage per GB-month; a month is taken as 30 days here

# us-east-1, Linux, on-demand, as of PRICES_AS_OF (same families as labkit.pricing, more sizes).
EC2_MORE_SIZES: dict[str, InstancePrice] = {
    p.instance_type: p
    for p in (
        InstancePrice("c6i.large", 2, 4, 0, None, 0.0, 0.085),
        InstancePrice("c6i.xlarge", 4, 8, 0, None, 0.0, 0.17),
        InstancePrice("c6i.8xlarge", 32, 64, 0, None, 0.0, 1.36),
        InstancePrice("m6i.large", 2, 8, 0, None, 0.0, 0.096),
        InstancePrice("m6i.xlarge", 4, 16, 0, None, 0.0, 0.192),
        InstancePrice("m6i.8xlarge", 32, 128, 0, None, 0.0, 1.536),
        InstancePrice("r6i.large", 2, 16, 0, None, 0.0, 0.126),
        InstancePrice("r6i.xlarge", 4, 32, 0, None, 0.0, 0.252),
        InstancePrice("r6i.8xlarge", 32, 256, 0, None, 0.0, 2.016),
    )
}
EC2_PRICES: dict[str, InstancePrice] = {**pricing.EC2_ON_DEMAND, **EC2_MORE_SIZES}


def cpu_instance_table(ec2_client: Any, instance_types: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Specs of the priced CPU-only types from EC2's API (real or emulated), joined with their prices.

    Rows carry ``instance_type``, ``vcpus``, ``memory_gib`` (from the API), ``usd_per_hour`` and
    ``usd_per_month`` (``HOURS_PER_MONTH`` hours), sorted by price.
    """
    wanted = sorted(instance_types or (t for t, p in EC2_PRICES.items() if p.accelerators == 0))
    unknown = [t for t in wanted if t not in EC2_PRICES]
    if unknown:
        raise KeyError(f"no price for {unknown}; priced types: {sorted(EC2_PRICES)}")
    rows = []
    for page in ec2_client.get_paginator("describe_instance_types").paginate(InstanceTypes=wanted):
        for description in page["InstanceTypes"]:
            spec = pricing.instance_specs(description)
            price = EC2_PRICES[spec["instance_type"]].usd_per_hour
            rows.append(
                {
                    "instance_type": spec["instance_type"],
                    "vcpus": spec["vcpus"],
                    "memory_gib": spec["memory_gib"],
                    "usd_per_hour": price,
                    "usd_per_month": round(price * HOURS_PER_MONTH, 2),
                }
            )
    return sorted(rows, key=lambda r: (r["usd_per_hour"], r["instance_type"]))


# --------------------------------------------------------------------------- right-sizing


def p95(values: Iterable[float]) -> float:
    """95th percentile with linear interpolation (numpy's default); CloudWatch's own p95 may differ slightly."""
    array = np.asarray(list(values), dtype=float)
    if array.size == 0:
        raise ValueError("p95 of no values")
    return float(np.percentile(array, 95))


@dataclass(frozen=True)
class Recommendation:
    """A right-sizing answer; ``monthly_savings_usd`` is negative when the instance must grow."""

    current_type: str
    instance_type: str
    needed_vcpus: float
    needed_memory_gib: float
    current_usd_per_month: float
    usd_per_month: float

    @property
    def monthly_savings_usd(self) -> float:
        return self.current_usd_per_month - self.usd_per_month

    @property
    def changed(self) -> bool:
        return self.instance_type != self.current_type


def _rows(table: Iterable[Mapping[str, Any]] | Any) -> list[Mapping[str, Any]]:
    if hasattr(table, "reset_index") and hasattr(table, "to_dict"):  # a DataFrame indexed by instance_type
        frame = table if "instance_type" in table.columns else table.reset_index()
        return frame.to_dict("records")
    return list(table)


def rightsize(
    current_type: str,
    p95_cpu_pct: float,
    p95_mem_pct: float,
    table: Iterable[Mapping[str, Any]] | Any,
    *,
    cpu_target_pct: float = 70.0,
    mem_target_pct: float = 80.0,
) -> Recommendation:
    """The cheapest type in ``table`` that keeps projected p95 CPU and memory under their targets.

    Demand is what the current instance used at p95: ``p95_cpu_pct% x vcpus`` and
    ``p95_mem_pct% x memory``; a candidate fits when that demand is at most ``cpu_target_pct%`` of its
    vCPUs and ``mem_target_pct%`` of its memory. Ties go to the smaller, then alphabetically first,
    type. ``table`` rows (or a DataFrame) need ``instance_type``, ``vcpus``, ``memory_gib``,
    ``usd_per_hour``, and must include the current type. Raises ``ValueError`` when nothing fits.
    """
    for name, value in (("p95_cpu_pct", p95_cpu_pct), ("p95_mem_pct", p95_mem_pct)):
        if not 0 <= value <= 100 or math.isnan(value):
            raise ValueError(f"{name} must be a percentage in [0, 100], got {value}")
    if not (0 < cpu_target_pct <= 100 and 0 < mem_target_pct <= 100):
        raise ValueError("targets must be percentages in (0, 100]")
    rows = {r["instance_type"]: r for r in _rows(table)}
    if current_type not in rows:
        raise KeyError(f"current type {current_type!r} is not in the table")
    current = rows[current_type]
    needed_vcpus = p95_cpu_pct / 100 * current["vcpus"] / (cpu_target_pct / 100)
    needed_mem = p95_mem_pct / 100 * current["memory_gib"] / (mem_target_pct / 100)
    fitting = [r for r in rows.values() if r["vcpus"] >= needed_vcpus - 1e-9 and r["memory_gib"] >= needed_mem - 1e-9]
    if not fitting:
        raise ValueError(f"no type in the table has {needed_vcpus:.1f} vCPUs and {needed_mem:.1f} GiB")
    best = min(fitting, key=lambda r: (r["usd_per_hour"], r["vcpus"], r["memory_gib"], r["instance_type"]))
    return Recommendation(
        current_type=current_type,
        instance_type=best["instance_type"],
        needed_vcpus=needed_vcpus,
        needed_memory_gib=needed_mem,
        current_usd_per_month=float(current["usd_per_hour"]) * HOURS_PER_MONTH,
        usd_per_month=float(best["usd_per_hour"]) * HOURS_PER_MONTH,
    )


# --------------------------------------------------------------------------- Spot


def interruptions_per_hour(monthly_fraction: float, hours_per_month: float = HOURS_PER_MONTH) -> float:
    """Poisson rate from "this fraction of instances was interrupted within a month" (Spot Instance Advisor)."""
    if not 0 <= monthly_fraction < 1:
        raise ValueError(f"monthly_fraction must be in [0, 1), got {monthly_fraction}")
    return -math.log1p(-monthly_fraction) / hours_per_month


def _segments(work_hours: float, every_hours: float) -> list[float]:
    if work_hours <= 0 or every_hours <= 0:
        raise ValueError("work_hours and checkpoint_every_hours must be > 0")
    count = math.ceil(work_hours / every_hours - 1e-9)
    return [every_hours] * (count - 1) + [work_hours - every_hours * (count - 1)]


def _segment_time(length: float, rate: float, restart_hours: float) -> float:
    if rate == 0:
        return length
    return math.expm1(rate * length) * (1 / rate + restart_hours)


def expected_runtime_hours(
    work_hours: float,
    checkpoint_every_hours: float,
    checkpoint_hours: float,
    restart_hours: float,
    interruptions_per_hour: float,
) -> float:
    """Expected wall-clock (= billed) hours of a checkpointed job on capacity that is interrupted at random.

    The job is cut into segments of ``checkpoint_every_hours`` of work (the last one shorter), each
    followed by a checkpoint taking ``checkpoint_hours`` (the last one is the final model upload).
    Interruptions arrive as a Poisson process with ``interruptions_per_hour``; one loses the segment
    in progress, and the replacement instance needs ``restart_hours`` (launch, reload the checkpoint)
    before work resumes; restarts themselves are not interrupted. A segment of length ``x`` (work plus
    checkpoint) then takes ``(e^(rate x) - 1) (1/rate + restart)`` hours on average (``x`` at rate 0).
    Not modelled: the two-minute interruption notice (a job may checkpoint in it), capacity shortages
    (no replacement available), and Spot prices changing during the job.
    """
    if checkpoint_hours < 0 or restart_hours < 0 or interruptions_per_hour < 0:
        raise ValueError("checkpoint_hours, restart_hours and interruptions_per_hour must be >= 0")
    return sum(
        _segment_time(s + checkpoint_hours, interruptions_per_hour, restart_hours)
        for s in _segments(work_hours, checkpoint_every_hours)
    )


def expected_interruptions(
    work_hours: float, checkpoint_every_hours: float, checkpoint_hours: float, interruptions_per_hour: float
) -> float:
    """Expected number of interruptions over the job (same model as :func:`expected_runtime_hours`)."""
    return sum(
        math.expm1(interruptions_per_hour * (s + checkpoint_hours))
        for s in _segments(work_hours, checkpoint_every_hours)
    )


def simulate_runtime_hours(
    work_hours: float,
    checkpoint_every_hours: float,
    checkpoint_hours: float,
    restart_hours: float,
    interruptions_per_hour: float,
    *,
    runs: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """Monte Carlo wall-clock hours of ``runs`` jobs under the model of :func:`expected_runtime_hours`."""
    rng = np.random.default_rng(seed)
    segments = _segments(work_hours, checkpoint_every_hours)
    totals = np.zeros(runs)
    for i in range(runs):
        total = 0.0
        for s in segments:
            need = s + checkpoint_hours
            while True:
                gap = rng.exponential(1 / interruptions_per_hour) if interruptions_per_hour > 0 else math.inf
                if gap >= need:
                    total += need
                    break
                total += gap + restart_hours
        totals[i] = total
    return totals


def young_daly_interval(checkpoint_hours: float, interruptions_per_hour: float) -> float:
    """First-order optimal checkpoint interval ``sqrt(2 * checkpoint / rate)`` (Young 1974, Daly 2006)."""
    if checkpoint_hours <= 0 or interruptions_per_hour <= 0:
        raise ValueError("checkpoint_hours and interruptions_per_hour must be > 0")
    return math.sqrt(2 * checkpoint_hours / interruptions_per_hour)


# --------------------------------------------------------------------------- S3


def s3_pattern_cost(storage_class: str, gb: float, keep_days: float, read_fraction_per_month: float) -> float:
    """USD to keep ``gb`` in ``storage_class`` for ``keep_days`` and read a fraction of it every month.

    Storage bills ``max(keep_days, minimum storage days of the class)`` (deleting earlier bills the
    rest anyway); each month ``read_fraction_per_month x gb`` is retrieved at the class's standard
    retrieval price (1.0: everything read once a month). Months are ``DAYS_PER_MONTH`` days. Not
    modelled (see :mod:`labkit.pricing`): request charges, the 128 KB minimum object size of the IA
    classes, restore delays (Glacier Flexible Retrieval and Deep Archive need a restore first).
    """
    price = pricing.S3_STORAGE.get(storage_class)
    if price is None:
        raise ValueError(f"no price for storage class {storage_class!r}; priced: {sorted(pricing.S3_STORAGE)}")
    if gb < 0 or keep_days <= 0 or read_fraction_per_month < 0:
        raise ValueError("gb and read_fraction_per_month must be >= 0, keep_days > 0")
    billed_months = max(keep_days, price.min_storage_days) / DAYS_PER_MONTH
    months = keep_days / DAYS_PER_MONTH
    return (
        gb * price.usd_per_gb_month * billed_months + gb * read_fraction_per_month * months * price.retrieval_usd_per_gb
    )


# --------------------------------------------------------------------------- RDS


@dataclass(frozen=True)
class RdsPrice:
    """One RDS DB instance class: specs and single-AZ on-demand price (PostgreSQL, us-east-1)."""

    db_class: str
    vcpus: int
    memory_gib: float
    usd_per_hour: float


RDS_POSTGRES: dict[str, RdsPrice] = {
    p.db_class: p
    for p in (
        # t4g: burstable Graviton (dev/test, small metadata stores); m6g general purpose; r6g memory-optimised.
        RdsPrice("db.t4g.micro", 2, 1, 0.016),
        RdsPrice("db.t4g.small", 2, 2, 0.032),
        RdsPrice("db.t4g.medium", 2, 4, 0.065),
        RdsPrice("db.t4g.large", 2, 8, 0.129),
        RdsPrice("db.m6g.large", 2, 8, 0.159),
        RdsPrice("db.m6g.xlarge", 4, 16, 0.318),
        RdsPrice("db.m6g.2xlarge", 8, 32, 0.636),
        RdsPrice("db.r6g.large", 2, 16, 0.225),
        RdsPrice("db.r6g.xlarge", 4, 32, 0.45),
        RdsPrice("db.r6g.2xlarge", 8, 64, 0.899),
    )
}
RDS_GP3_USD_PER_GB_MONTH = 0.115
RDS_BACKUP_USD_PER_GB_MONTH = 0.095  # backup storage beyond 100% of the provisioned storage


def rds_monthly_cost(
    db_class: str,
    *,
    storage_gb: float,
    multi_az: bool = False,
    running_hours: float = HOURS_PER_MONTH,
    extra_backup_gb: float = 0.0,
) -> float:
    """Monthly USD of one RDS PostgreSQL instance: instance hours, gp3 storage, extra backup storage.

    A stopped instance (``running_hours`` below the month) still pays for its storage; Multi-AZ bills
    the standby's instance hours and storage too. RDS restarts a stopped instance after 7 days, so a
    dev database can be stopped nights and weekends, not for months.
    """
    price = RDS_POSTGRES.get(db_class)
    if price is None:
        raise ValueError(f"no price for {db_class!r}; priced: {sorted(RDS_POSTGRES)}")
    if storage_gb < 0 or extra_backup_gb < 0 or not 0 <= running_hours <= 744:
        raise ValueError("storage must be >= 0 and running_hours within a month")
    copies = 2 if multi_az else 1
    return (
        price.usd_per_hour * running_hours * copies
        + storage_gb * RDS_GP3_USD_PER_GB_MONTH * copies
        + extra_backup_gb * RDS_BACKUP_USD_PER_GB_MONTH
    )
