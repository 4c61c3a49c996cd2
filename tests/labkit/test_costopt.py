"""labkit.costopt: right-sizing, the Spot interruption model, S3 class costs and RDS costs."""

from __future__ import annotations

import math

import pytest

from labkit import costopt, pricing
from labkit.costopt import (
    expected_interruptions,
    expected_runtime_hours,
    interruptions_per_hour,
    p95,
    rds_monthly_cost,
    rightsize,
    s3_pattern_cost,
    simulate_runtime_hours,
    young_daly_interval,
)


def _table() -> list[dict]:
    return [
        {"instance_type": t, "vcpus": p.vcpus, "memory_gib": p.memory_gib, "usd_per_hour": p.usd_per_hour}
        for t, p in costopt.EC2_PRICES.items()
        if p.accelerators == 0
    ]


def test_price_tables_extend_pricing_consistently():
    assert costopt.PRICES_AS_OF == pricing.PRICES_AS_OF
    assert set(pricing.EC2_ON_DEMAND) <= set(costopt.EC2_PRICES)
    for family in ("c6i", "m6i", "r6i"):
        sizes = [costopt.EC2_PRICES[f"{family}.{s}"] for s in ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge")]
        # within a family the price is linear in size: the hourly price per vCPU is constant
        per_vcpu = {round(p.usd_per_hour / p.vcpus, 5) for p in sizes}
        assert len(per_vcpu) == 1, (family, per_vcpu)
        assert [p.vcpus for p in sizes] == [2, 4, 8, 16, 32]


def test_rightsize_moves_down_and_across_families():
    table = _table()
    # m6i.4xlarge (16 vCPU, 64 GiB) at p95 8% CPU, 20% memory: needs 1.8 vCPU and 16 GiB -> r6i.large
    rec = rightsize("m6i.4xlarge", 8, 20, table)
    assert rec.instance_type == "r6i.large"
    assert rec.needed_vcpus == pytest.approx(16 * 0.08 / 0.7)
    assert rec.needed_memory_gib == pytest.approx(64 * 0.2 / 0.8)
    assert rec.monthly_savings_usd == pytest.approx((0.768 - 0.126) * 730)
    assert rec.changed
    # memory-bound: r6i.4xlarge at 40% CPU and 38% memory needs 9.1 vCPU and 60.8 GiB -> m6i.4xlarge
    assert rightsize("r6i.4xlarge", 40, 38, table).instance_type == "m6i.4xlarge"
    # ignoring memory would have picked a compute-optimised type: the memory constraint matters
    assert rightsize("r6i.4xlarge", 40, 0, table).instance_type == "c6i.4xlarge"


def test_rightsize_keeps_or_grows_and_refuses():
    table = _table()
    kept = rightsize("c6i.4xlarge", 63, 20, table)
    assert kept.instance_type == "c6i.4xlarge" and not kept.changed and kept.monthly_savings_usd == 0
    grown = rightsize("c6i.2xlarge", 95, 30, table)
    assert grown.instance_type == "c6i.4xlarge" and grown.monthly_savings_usd < 0
    with pytest.raises(ValueError, match="no type"):
        rightsize("r6i.8xlarge", 100, 100, table, cpu_target_pct=50)
    with pytest.raises(ValueError, match="percentage"):
        rightsize("m6i.large", 120, 10, table)
    with pytest.raises(KeyError):
        rightsize("x9.huge", 10, 10, table)


def test_p95_is_numpy_linear():
    assert p95(range(101)) == pytest.approx(95.0)
    assert p95([1, 2]) == pytest.approx(1.95)
    with pytest.raises(ValueError):
        p95([])


def test_expected_runtime_without_interruptions_is_work_plus_checkpoints():
    # 10 h of work, a checkpoint every 3 h: segments 3, 3, 3, 1, each followed by a 0.1 h checkpoint
    assert expected_runtime_hours(10, 3, 0.1, 0.5, 0.0) == pytest.approx(10.4)
    assert expected_interruptions(10, 3, 0.1, 0.0) == 0


def test_expected_runtime_matches_closed_form_and_monte_carlo():
    rate, tau, delta, restart = 0.05, 2.0, 0.1, 0.25
    per_segment = math.expm1(rate * (tau + delta)) * (1 / rate + restart)
    assert expected_runtime_hours(30, tau, delta, restart, rate) == pytest.approx(15 * per_segment)
    simulated = simulate_runtime_hours(30, tau, delta, restart, rate, runs=3000, seed=1)
    assert simulated.mean() == pytest.approx(expected_runtime_hours(30, tau, delta, restart, rate), rel=0.03)
    # frequent interruptions: checkpointing rarely is far worse than the model's optimum
    rough = simulate_runtime_hours(20, 8, 0.1, 0.25, 0.3, runs=2000, seed=2).mean()
    assert rough == pytest.approx(expected_runtime_hours(20, 8, 0.1, 0.25, 0.3), rel=0.05)
    assert expected_runtime_hours(20, 8, 0.1, 0.25, 0.3) > 2 * expected_runtime_hours(20, 1, 0.1, 0.25, 0.3)


def test_young_daly_interval_is_near_the_grid_optimum():
    rate, delta = 0.05, 0.1
    grid = [0.25 * k for k in range(1, 41)]
    best = min(grid, key=lambda tau: expected_runtime_hours(40, tau, delta, 0.25, rate))
    assert young_daly_interval(delta, rate) == pytest.approx(2.0)
    assert abs(best - young_daly_interval(delta, rate)) <= 0.5
    with pytest.raises(ValueError):
        young_daly_interval(0.1, 0)


def test_interruptions_per_hour_from_monthly_fraction():
    assert interruptions_per_hour(0.0) == 0
    rate = interruptions_per_hour(0.2)
    assert 1 - math.exp(-rate * 730) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        interruptions_per_hour(1.0)
    with pytest.raises(ValueError):
        expected_runtime_hours(0, 1, 0.1, 0.1, 0.1)


def test_s3_pattern_cost_applies_minimum_duration_and_retrieval():
    # 300 GB kept 14 days: Standard-IA bills its 30-day minimum
    assert s3_pattern_cost("STANDARD_IA", 300, 14, 0.0) == pytest.approx(300 * 0.0125 * 1.0)
    assert s3_pattern_cost("STANDARD", 300, 14, 0.0) == pytest.approx(300 * 0.023 * 14 / 30)
    # reads: 200 GB read 30 times a month for a year
    assert s3_pattern_cost("STANDARD_IA", 200, 360, 30) == pytest.approx(200 * 0.0125 * 12 + 200 * 30 * 12 * 0.01)
    assert s3_pattern_cost("STANDARD", 200, 360, 30) < s3_pattern_cost("STANDARD_IA", 200, 360, 30)
    # long retention, rare reads: Deep Archive wins
    costs = {c: s3_pattern_cost(c, 5000, 7 * 360, 0.02) for c in pricing.S3_STORAGE}
    assert min(costs, key=costs.get) == "DEEP_ARCHIVE"
    with pytest.raises(ValueError, match="no price"):
        s3_pattern_cost("INTELLIGENT_TIERING", 1, 30, 0)
    with pytest.raises(ValueError):
        s3_pattern_cost("STANDARD", 1, 0, 0)


def test_rds_monthly_cost():
    single = rds_monthly_cost("db.r6g.xlarge", storage_gb=500)
    assert single == pytest.approx(0.45 * 730 + 500 * 0.115)
    assert rds_monthly_cost("db.r6g.xlarge", storage_gb=500, multi_az=True) == pytest.approx(2 * single)
    # stopped nights and weekends: storage is still billed
    stopped = rds_monthly_cost("db.t4g.medium", storage_gb=100, running_hours=50 * 730 / 168)
    assert stopped == pytest.approx(0.065 * 50 * 730 / 168 + 100 * 0.115)
    with pytest.raises(ValueError, match="no price"):
        rds_monthly_cost("db.x9.huge", storage_gb=1)


def test_cpu_instance_table_reads_specs_from_the_api():
    moto = pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    with moto.mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        table = costopt.cpu_instance_table(ec2)
    cpu_types = {t for t, p in costopt.EC2_PRICES.items() if p.accelerators == 0}
    assert {r["instance_type"] for r in table} == cpu_types
    for row in table:
        listed = costopt.EC2_PRICES[row["instance_type"]]
        assert (row["vcpus"], row["memory_gib"]) == (listed.vcpus, pytest.approx(listed.memory_gib)), row
    assert [r["usd_per_hour"] for r in table] == sorted(r["usd_per_hour"] for r in table)
    with pytest.raises(KeyError, match="no price"):
        costopt.cpu_instance_table(None, ["x9.huge"])
