"""labkit.pricing: price tables, S3 cost, lifecycle validation and simulation."""

from __future__ import annotations

import pytest

from labkit import pricing
from labkit.pricing import Cohort, daily_cohorts, lifecycle_errors, s3_monthly_cost, simulate_lifecycle

GOOD_RULES = {
    "Rules": [
        {
            "ID": "raw-tiering",
            "Status": "Enabled",
            "Filter": {"Prefix": "raw/"},
            "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 120, "StorageClass": "GLACIER"}],
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        }
    ]
}


def test_tables_are_dated_and_consistent():
    assert pricing.PRICES_AS_OF.startswith("20") and pricing.REGION == "us-east-1"
    g5 = pricing.EC2_ON_DEMAND["g5.xlarge"]
    assert g5.family == "g5" and g5.accelerators == 1 and g5.accelerator_name == "A10G"
    assert g5.usd_per_month == pytest.approx(1.006 * 730)
    # colder classes are cheaper to store and dearer (or equal) to read
    ordered = [c for c in pricing.STORAGE_CLASS_ORDER if c in pricing.S3_STORAGE]
    prices = [pricing.S3_STORAGE[c].usd_per_gb_month for c in ordered]
    assert prices == sorted(prices, reverse=True)
    assert pricing.S3_STORAGE["GLACIER"].needs_restore and not pricing.S3_STORAGE["GLACIER_IR"].needs_restore


def test_s3_monthly_cost_storage_and_retrieval():
    assert s3_monthly_cost({"STANDARD": 1000}) == pytest.approx(23.0)
    cost = s3_monthly_cost({"STANDARD": 100, "GLACIER": 1000}, {"STANDARD_IA": 50})
    assert cost == pytest.approx(100 * 0.023 + 1000 * 0.0036 + 50 * 0.01)
    assert s3_monthly_cost({}) == 0.0


def test_s3_monthly_cost_rejects_unknown_class_and_negative_gb():
    with pytest.raises(ValueError, match="REDUCED_REDUNDANCY"):
        s3_monthly_cost({"REDUCED_REDUNDANCY": 1})
    with pytest.raises(ValueError, match=">= 0"):
        s3_monthly_cost({"STANDARD": -1})


def test_transition_cost():
    assert pricing.transition_cost({"GLACIER": 2000, "STANDARD_IA": 1000}) == pytest.approx(0.06 + 0.01)


def test_good_lifecycle_is_valid():
    assert lifecycle_errors(GOOD_RULES) == []


@pytest.mark.parametrize(
    ("transitions", "expected"),
    [
        ([{"Days": 7, "StorageClass": "STANDARD_IA"}], ">= 30"),
        ([{"Days": 29, "StorageClass": "ONEZONE_IA"}], ">= 30"),
        ([{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 45, "StorageClass": "GLACIER"}], "days after"),
        ([{"Days": 90, "StorageClass": "GLACIER"}, {"Days": 200, "StorageClass": "STANDARD_IA"}], "waterfall"),
        ([{"Days": 30, "StorageClass": "STANDARD"}], "cannot transition"),
    ],
)
def test_lifecycle_errors_catch_what_s3_rejects(transitions, expected):
    config = {"Rules": [{"ID": "r", "Status": "Enabled", "Filter": {"Prefix": "x/"}, "Transitions": transitions}]}
    errors = lifecycle_errors(config)
    assert any(expected in e for e in errors), errors


def test_lifecycle_errors_expiration_and_noncurrent():
    config = {
        "Rules": [
            {
                "ID": "r",
                "Status": "Enabled",
                "Filter": {},
                "Transitions": [{"Days": 60, "StorageClass": "GLACIER"}],
                "Expiration": {"Days": 60},
                "NoncurrentVersionTransitions": [{"NoncurrentDays": 10, "StorageClass": "STANDARD_IA"}],
            },
            {"ID": "r", "Status": "On", "Filter": {}},
        ]
    }
    errors = " | ".join(lifecycle_errors(config))
    assert "must come after the last transition" in errors
    assert "NoncurrentDays in the transition to STANDARD_IA must be >= 30" in errors
    assert "unique" in errors and "Status" in errors and "no action" in errors
    assert lifecycle_errors({"Rules": []}) == ["the configuration has no rules"]


def test_simulate_lifecycle_moves_only_the_filtered_prefix():
    cohorts = [*daily_cohorts("raw/", 10.0, 365), *daily_cohorts("models/", 1.0, 365)]
    placed = simulate_lifecycle(GOOD_RULES, cohorts)
    # raw/: ages 0-29 STANDARD, 30-119 IA, 120-364 GLACIER; models/ untouched
    assert placed["STANDARD"] == pytest.approx(30 * 10 + 365 * 1)
    assert placed["STANDARD_IA"] == pytest.approx(90 * 10)
    assert placed["GLACIER"] == pytest.approx(245 * 10)
    assert sum(placed.values()) == pytest.approx(365 * 11)
    assert simulate_lifecycle(None, cohorts) == {"STANDARD": pytest.approx(365 * 11)}


def test_simulate_lifecycle_noncurrent_expiration_and_versioned_expiry():
    old = Cohort("raw/a", 5.0, age_days=100, noncurrent_days=40)  # past NoncurrentDays=30: deleted
    young = Cohort("raw/b", 2.0, age_days=100, noncurrent_days=10)  # current for 90 days: IA
    assert simulate_lifecycle(GOOD_RULES, [old, young]) == {"STANDARD_IA": pytest.approx(2.0)}
    expiring = {"Rules": [{"ID": "e", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 7}}]}
    tmp = [Cohort("tmp/x", 1.0, age_days=10)]
    assert simulate_lifecycle(expiring, tmp) == {}
    assert simulate_lifecycle(expiring, tmp, versioned=True) == {"STANDARD": pytest.approx(1.0)}


def test_simulate_lifecycle_filters_and_disabled_rules():
    rules = {
        "Rules": [
            {
                "ID": "tagged",
                "Status": "Enabled",
                "Filter": {"And": {"Prefix": "d/", "Tags": [{"Key": "tier", "Value": "cold"}]}},
                "Transitions": [{"Days": 0, "StorageClass": "DEEP_ARCHIVE"}],
            },
            {"ID": "off", "Status": "Disabled", "Filter": {}, "Expiration": {"Days": 1}},
        ]
    }
    cold = Cohort("d/1", 1.0, 5, tags={"tier": "cold"})
    hot = Cohort("d/2", 1.0, 5, tags={"tier": "hot"})
    assert simulate_lifecycle(rules, [cold, hot]) == {"DEEP_ARCHIVE": 1.0, "STANDARD": 1.0}
    sized = {
        "Rules": [{"ID": "s", "Status": "Enabled", "Filter": {"ObjectSizeGreaterThan": 10}, "Expiration": {"Days": 1}}]
    }
    with pytest.raises(ValueError, match="object_bytes"):
        simulate_lifecycle(sized, [Cohort("k", 1.0, 5)])
    assert simulate_lifecycle(sized, [Cohort("k", 1.0, 5, object_bytes=5)]) == {"STANDARD": 1.0}


def test_simulate_lifecycle_rejects_date_rules():
    dated = {"Rules": [{"ID": "d", "Status": "Enabled", "Filter": {}, "Expiration": {"Date": "2030-01-01T00:00:00Z"}}]}
    with pytest.raises(ValueError, match="day-based"):
        simulate_lifecycle(dated, [Cohort("k", 1.0, 5)])


def test_join_prices_with_ec2_api_specs():
    moto = pytest.importorskip("moto")
    boto3 = pytest.importorskip("boto3")
    with moto.mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        table = pricing.priced_instance_table(ec2)
    assert {r["instance_type"] for r in table} == set(pricing.EC2_ON_DEMAND)
    for row in table:
        listed = pricing.EC2_ON_DEMAND[row["instance_type"]]
        assert row["vcpus"] == listed.vcpus, row
        assert row["memory_gib"] == pytest.approx(listed.memory_gib), row
        assert row["accelerators"] == listed.accelerators, row
        assert row["accelerator_memory_gib"] == pytest.approx(listed.accelerator_memory_gib), row
        assert row["usd_per_hour"] == listed.usd_per_hour
        expected_kind = None if not listed.accelerators else ("neuron" if row["family"] == "inf2" else "gpu")
        assert row["accelerator_kind"] == expected_kind, row
    with pytest.raises(KeyError, match="no price"):
        pricing.priced_instance_table(None, ["x9.huge"])


def test_join_prices_skips_unpriced_types():
    description = {
        "InstanceType": "t3.micro",
        "VCpuInfo": {"DefaultVCpus": 2},
        "MemoryInfo": {"SizeInMiB": 1024},
    }
    assert pricing.join_prices([description]) == []
    assert pricing.instance_specs(description)["accelerators"] == 0
