"""AWS list prices for ML compute and storage, and an S3 lifecycle simulator, for cost reasoning in labs.

**The prices are a dated snapshot, not a live feed.** They are on-demand list prices in
us-east-1 (N. Virginia), Linux, as of ``PRICES_AS_OF``; AWS changes prices (it cut P4d/P5
on-demand prices in mid-2025, for example), so check the pricing pages in ``PRICING_PAGES``
before deciding anything with real money. The instance specs beside each price are what
``ec2.describe_instance_types`` returns (accelerator memory in GiB = MiB / 1024, so an A10G
shows 22.35 GiB, not the marketing "24 GB"); :func:`priced_instance_table` joins the live
API answer with the prices, so the specs always come from the API.

What is modelled and what is not:

- EC2: on-demand $/hour only (no Spot, Savings Plans, EBS, data transfer).
- S3: storage $/GB-month (first 50 TB tier), retrieval $/GB (standard tier), minimum storage
  duration and lifecycle-transition request prices. Not modelled: request charges other than
  transitions, the 128 KB minimum billable object size of the IA classes, early-deletion
  charges, volume tiers above 50 TB, Intelligent-Tiering (its monitoring fee depends on object
  counts).
- Lifecycle: :func:`lifecycle_errors` applies the put-time rules real S3 enforces (and the moto
  emulator does not); :func:`simulate_lifecycle` says where each object cohort sits for a
  day-based lifecycle configuration as returned by ``get_bucket_lifecycle_configuration``.
  ``Date`` rules and ``NewerNoncurrentVersions`` are not simulated (a ``ValueError`` says so).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

PRICES_AS_OF = "2025-01-15"
REGION = "us-east-1"
HOURS_PER_MONTH = 730  # AWS's own convention for monthly estimates (8760 h / 12)
PRICING_PAGES = {
    "ec2": "https://aws.amazon.com/ec2/pricing/on-demand/",
    "s3": "https://aws.amazon.com/s3/pricing/",
}


# --------------------------------------------------------------------------- EC2


@dataclass(frozen=True)
class InstancePrice:
    """One EC2 instance type: its specs (as describe_instance_types reports them) and on-demand price."""

    instance_type: str
    vcpus: int
    memory_gib: float
    accelerators: int  # GPUs or Neuron (Inferentia/Trainium) devices
    accelerator_name: str | None
    accelerator_memory_gib: float  # total over all accelerators
    usd_per_hour: float

    @property
    def family(self) -> str:
        return self.instance_type.split(".", 1)[0]

    @property
    def usd_per_month(self) -> float:
        return self.usd_per_hour * HOURS_PER_MONTH


def _it(name: str, vcpus: int, mem: float, acc: int, acc_name: str | None, acc_mib: int, price: float) -> InstancePrice:
    return InstancePrice(name, vcpus, mem, acc, acc_name, round(acc_mib / 1024, 2), price)


# us-east-1, Linux, on-demand, as of PRICES_AS_OF.
EC2_ON_DEMAND: dict[str, InstancePrice] = {
    p.instance_type: p
    for p in (
        # CPU: c = compute-optimized (feature pipelines, CPU inference), m = general purpose,
        # r = memory-optimized (large in-memory joins, pandas/Spark executors).
        _it("c6i.2xlarge", 8, 16, 0, None, 0, 0.34),
        _it("c6i.4xlarge", 16, 32, 0, None, 0, 0.68),
        _it("m6i.2xlarge", 8, 32, 0, None, 0, 0.384),
        _it("m6i.4xlarge", 16, 64, 0, None, 0, 0.768),
        _it("r6i.2xlarge", 8, 64, 0, None, 0, 0.504),
        _it("r6i.4xlarge", 16, 128, 0, None, 0, 1.008),
        # NVIDIA GPUs: g5 = A10G, g6 = L4 (inference, small/medium training), p4d = 8x A100 40 GB.
        _it("g5.xlarge", 4, 16, 1, "A10G", 22888, 1.006),
        _it("g5.2xlarge", 8, 32, 1, "A10G", 22888, 1.212),
        _it("g5.12xlarge", 48, 192, 4, "A10G", 91552, 5.672),
        _it("g5.48xlarge", 192, 768, 8, "A10G", 183104, 16.288),
        _it("g6.xlarge", 4, 16, 1, "L4", 22888, 0.8048),
        _it("g6.2xlarge", 8, 32, 1, "L4", 22888, 0.9776),
        _it("g6.12xlarge", 48, 192, 4, "L4", 91552, 4.6016),
        _it("g6.48xlarge", 192, 768, 8, "L4", 183104, 13.3504),
        _it("p4d.24xlarge", 96, 1152, 8, "A100", 327680, 32.7726),
        # AWS Inferentia2 (Neuron SDK, inference only).
        _it("inf2.xlarge", 4, 16, 1, "Inferentia2", 32768, 0.7582),
        _it("inf2.8xlarge", 32, 128, 1, "Inferentia2", 32768, 1.9679),
        _it("inf2.48xlarge", 192, 768, 12, "Inferentia2", 393216, 12.9813),
    )
}


def instance_specs(description: Mapping[str, Any]) -> dict[str, Any]:
    """Flatten one entry of ``describe_instance_types()["InstanceTypes"]`` into the fields priced here."""
    gpu = description.get("GpuInfo") or {}
    neuron = description.get("NeuronInfo") or {}
    if gpu.get("Gpus"):
        kind, devices, total_mib = "gpu", gpu["Gpus"], gpu.get("TotalGpuMemoryInMiB", 0)
    elif neuron.get("NeuronDevices"):
        kind, devices, total_mib = "neuron", neuron["NeuronDevices"], neuron.get("TotalNeuronDeviceMemoryInMiB", 0)
    else:
        kind, devices, total_mib = None, [], 0
    return {
        "instance_type": description["InstanceType"],
        "vcpus": int(description["VCpuInfo"]["DefaultVCpus"]),
        "memory_gib": description["MemoryInfo"]["SizeInMiB"] / 1024,
        "accelerators": sum(int(d.get("Count", 0)) for d in devices),
        "accelerator_kind": kind,  # "gpu" (CUDA, NVIDIA here), "neuron" (AWS Inferentia/Trainium) or None
        "accelerator_name": devices[0].get("Name") if devices else None,
        "accelerator_memory_gib": round(total_mib / 1024, 2),
        "architectures": list(description.get("ProcessorInfo", {}).get("SupportedArchitectures", [])),
    }


def join_prices(descriptions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Specs from the API joined with ``EC2_ON_DEMAND`` prices; types without a price are left out."""
    rows = []
    for description in descriptions:
        price = EC2_ON_DEMAND.get(description["InstanceType"])
        if price is None:
            continue
        row = instance_specs(description)
        row["family"] = price.family
        row["usd_per_hour"] = price.usd_per_hour
        row["usd_per_month"] = round(price.usd_per_month, 2)
        rows.append(row)
    return sorted(rows, key=lambda r: r["instance_type"])


def priced_instance_table(ec2_client: Any, instance_types: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Ask EC2 (real or emulated) for the specs of the priced types and join the prices in."""
    wanted = sorted(instance_types or EC2_ON_DEMAND)
    unknown = [t for t in wanted if t not in EC2_ON_DEMAND]
    if unknown:
        raise KeyError(f"no price for {unknown}; priced types: {sorted(EC2_ON_DEMAND)}")
    descriptions: list[Mapping[str, Any]] = []
    for page in ec2_client.get_paginator("describe_instance_types").paginate(InstanceTypes=wanted):
        descriptions.extend(page["InstanceTypes"])
    return join_prices(descriptions)


# --------------------------------------------------------------------------- S3 storage classes


@dataclass(frozen=True)
class StorageClassPrice:
    """Price and rules of one S3 storage class (us-east-1, first 50 TB/month tier)."""

    name: str
    usd_per_gb_month: float
    retrieval_usd_per_gb: float  # standard retrieval tier
    min_storage_days: int  # billed for at least this long
    transition_usd_per_1000: float  # lifecycle transition requests into this class
    needs_restore: bool  # GetObject fails (InvalidObjectState) until restore_object


S3_STORAGE: dict[str, StorageClassPrice] = {
    c.name: c
    for c in (
        StorageClassPrice("STANDARD", 0.023, 0.0, 0, 0.0, False),
        StorageClassPrice("STANDARD_IA", 0.0125, 0.01, 30, 0.01, False),
        StorageClassPrice("ONEZONE_IA", 0.01, 0.01, 30, 0.01, False),
        StorageClassPrice("GLACIER_IR", 0.004, 0.03, 90, 0.02, False),
        StorageClassPrice("GLACIER", 0.0036, 0.01, 90, 0.03, True),
        StorageClassPrice("DEEP_ARCHIVE", 0.00099, 0.02, 180, 0.05, True),
    )
}

# Lifecycle may only move objects down this list ("waterfall"); the later, the colder.
STORAGE_CLASS_ORDER = (
    "STANDARD",
    "STANDARD_IA",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
)
_IA_CLASSES = ("STANDARD_IA", "ONEZONE_IA")
_IA_MIN_DAYS = 30  # S3 rejects a transition into an IA class earlier than 30 days after creation


def _price(storage_class: str) -> StorageClassPrice:
    try:
        return S3_STORAGE[storage_class]
    except KeyError:
        raise ValueError(f"no price for storage class {storage_class!r}; priced: {sorted(S3_STORAGE)}") from None


def s3_monthly_cost(gb_by_class: Mapping[str, float], retrievals: Mapping[str, float] | None = None) -> float:
    """Monthly USD for storing ``gb_by_class`` (GB per class) plus reading ``retrievals`` (GB per class)."""
    total = 0.0
    for part, per_gb in ((gb_by_class, "usd_per_gb_month"), (retrievals or {}, "retrieval_usd_per_gb")):
        for storage_class, gb in part.items():
            if gb < 0 or math.isnan(gb):
                raise ValueError(f"{storage_class}: GB must be >= 0, got {gb}")
            total += gb * getattr(_price(storage_class), per_gb)
    return total


def transition_cost(objects_by_class: Mapping[str, float]) -> float:
    """USD for lifecycle-transitioning this many objects into each class (one request per object)."""
    return sum(n / 1000 * _price(c).transition_usd_per_1000 for c, n in objects_by_class.items())


# --------------------------------------------------------------------------- lifecycle rules


def _rule_name(rule: Mapping[str, Any], index: int) -> str:
    return repr(rule.get("ID") or f"rule #{index + 1}")


def _check_steps(
    name: str, steps: list[Mapping[str, Any]], days_key: str, expiration: Mapping[str, Any] | None
) -> list[str]:
    errors = []
    if any(days_key not in s for s in steps):
        if any("Date" in s for s in steps):
            return errors  # date-based transitions: S3's checks on dates are not reproduced here
        return [f"{name}: every transition needs {days_key}"]
    ordered = sorted(steps, key=lambda s: s[days_key] if isinstance(s[days_key], int) else -1)
    seen: set[str] = set()
    previous: Mapping[str, Any] | None = None
    for step in ordered:
        days, target = step[days_key], step.get("StorageClass")
        if target not in STORAGE_CLASS_ORDER or target == "STANDARD":
            errors.append(f"{name}: cannot transition to storage class {target!r}")
            continue
        if not isinstance(days, int) or days < 0:
            errors.append(f"{name}: {days_key} must be a non-negative integer, got {days!r}")
            continue
        if target in seen:
            errors.append(f"{name}: two transitions to {target}")
        seen.add(target)
        if target in _IA_CLASSES and days < _IA_MIN_DAYS:
            errors.append(f"{name}: {days_key} in the transition to {target} must be >= {_IA_MIN_DAYS}, got {days}")
        if previous is not None:
            prev_days, prev_class = previous[days_key], previous["StorageClass"]
            if STORAGE_CLASS_ORDER.index(target) <= STORAGE_CLASS_ORDER.index(prev_class):
                errors.append(f"{name}: {prev_class} (day {prev_days}) -> {target} (day {days}) goes up the waterfall")
            elif prev_class in _IA_CLASSES and days < prev_days + _IA_MIN_DAYS:
                errors.append(
                    f"{name}: the transition to {target} must come >= {_IA_MIN_DAYS} days after the one to "
                    f"{prev_class} (day {prev_days}), got day {days}"
                )
        previous = step
    if expiration and days_key in expiration and ordered:
        last = max(s[days_key] for s in ordered if isinstance(s[days_key], int))
        if expiration[days_key] <= last:
            errors.append(
                f"{name}: expiration ({days_key}={expiration[days_key]}) must come after the last "
                f"transition ({days_key}={last})"
            )
    return errors


def lifecycle_errors(config: Mapping[str, Any]) -> list[str]:
    """The reasons real S3 would reject this lifecycle configuration at put time (empty list: valid).

    ``config`` is what ``get_bucket_lifecycle_configuration`` returns, or the ``LifecycleConfiguration``
    argument of ``put_bucket_lifecycle_configuration`` (a dict with ``Rules``). The moto emulator
    accepts all of these mistakes, so labs check with this function.
    """
    rules = config.get("Rules")
    if not rules:
        return ["the configuration has no rules"]
    errors = []
    ids = [r.get("ID") for r in rules if r.get("ID")]
    if len(ids) != len(set(ids)):
        errors.append(f"rule IDs must be unique, got {ids}")
    for index, rule in enumerate(rules):
        name = _rule_name(rule, index)
        if rule.get("Status") not in ("Enabled", "Disabled"):
            errors.append(f"{name}: Status must be 'Enabled' or 'Disabled', got {rule.get('Status')!r}")
        if "Filter" in rule and "Prefix" in rule:
            errors.append(f"{name}: use either Filter or the legacy Prefix, not both")
        actions = (
            "Transitions",
            "Expiration",
            "NoncurrentVersionTransitions",
            "NoncurrentVersionExpiration",
            "AbortIncompleteMultipartUpload",
        )
        if not any(rule.get(a) for a in actions):
            errors.append(f"{name}: the rule has no action")
        expiration = rule.get("Expiration") or {}
        if "Days" in expiration and (not isinstance(expiration["Days"], int) or expiration["Days"] < 1):
            errors.append(f"{name}: Expiration Days must be a positive integer, got {expiration['Days']!r}")
        nc_expiration = rule.get("NoncurrentVersionExpiration") or {}
        if "NoncurrentDays" in nc_expiration and (
            not isinstance(nc_expiration["NoncurrentDays"], int) or nc_expiration["NoncurrentDays"] < 1
        ):
            errors.append(f"{name}: NoncurrentDays must be a positive integer, got {nc_expiration['NoncurrentDays']!r}")
        errors += _check_steps(name, list(rule.get("Transitions") or []), "Days", expiration)
        errors += _check_steps(
            name, list(rule.get("NoncurrentVersionTransitions") or []), "NoncurrentDays", nc_expiration
        )
    return errors


@dataclass(frozen=True)
class Cohort:
    """Objects that share a key prefix, an age and a state: the unit the lifecycle simulator moves.

    ``age_days`` counts from the version's creation; ``noncurrent_days`` from the moment a newer
    version replaced it (None: this is the current version).
    """

    key: str
    gb: float
    age_days: float
    noncurrent_days: float | None = None
    storage_class: str = "STANDARD"
    tags: Mapping[str, str] = field(default_factory=dict)
    object_bytes: int | None = None


def daily_cohorts(prefix: str, gb_per_day: float, days: int, *, start_day: int = 0) -> list[Cohort]:
    """Steady state of ``gb_per_day`` written under ``prefix`` every day and kept ``days`` days: one cohort per age."""
    if days < 0 or gb_per_day < 0:
        raise ValueError("days and gb_per_day must be >= 0")
    return [Cohort(f"{prefix}day-{age:05d}", gb_per_day, float(age)) for age in range(start_day, start_day + days)]


def _filter_matches(rule: Mapping[str, Any], cohort: Cohort) -> bool:
    if "Filter" not in rule:
        return cohort.key.startswith(rule.get("Prefix", ""))
    flt = rule["Filter"] or {}
    conditions = dict(flt.get("And") or flt)
    tags = list(conditions.pop("Tags", []))
    if "Tag" in conditions:
        tags.append(conditions.pop("Tag"))
    if not cohort.key.startswith(conditions.pop("Prefix", "") or ""):
        return False
    if any(cohort.tags.get(t["Key"]) != t["Value"] for t in tags):
        return False
    for bound in ("ObjectSizeGreaterThan", "ObjectSizeLessThan"):
        if bound in conditions:
            if cohort.object_bytes is None:
                raise ValueError(f"rule filters on {bound}: give the cohort's object_bytes")
            limit = conditions.pop(bound)
            size = cohort.object_bytes
            if (bound == "ObjectSizeGreaterThan" and size <= limit) or (
                bound == "ObjectSizeLessThan" and size >= limit
            ):
                return False
    return True


def _colder(a: str, b: str) -> str:
    return a if STORAGE_CLASS_ORDER.index(a) >= STORAGE_CLASS_ORDER.index(b) else b


def _fired(steps: Iterable[Mapping[str, Any]], key: str, elapsed: float) -> list[str]:
    classes = []
    for step in steps:
        if key not in step:
            raise ValueError(f"only day-based rules are simulated, got {dict(step)}")
        if step[key] <= elapsed:
            classes.append(step["StorageClass"])
    return classes


def _placement(rules: list[Mapping[str, Any]], cohort: Cohort, versioned: bool) -> str | None:
    """Storage class of the cohort today, or None when the lifecycle has deleted it."""
    age = cohort.age_days
    noncurrent = cohort.noncurrent_days
    if noncurrent is None:
        expirations = [r["Expiration"]["Days"] for r in rules if "Days" in (r.get("Expiration") or {})]
        if expirations and min(expirations) <= age:
            if not versioned:
                return None
            noncurrent = age - min(expirations)  # a delete marker hides it: it is now noncurrent
    current_for = age if noncurrent is None else age - noncurrent
    storage_class = cohort.storage_class
    for rule in rules:
        if any("Date" in (t or {}) for t in rule.get("Transitions") or []) or "Date" in (rule.get("Expiration") or {}):
            raise ValueError(f"rule {rule.get('ID')!r}: only day-based rules are simulated")
        for target in _fired(rule.get("Transitions") or [], "Days", current_for):
            storage_class = _colder(storage_class, target)
    if noncurrent is None:
        return storage_class
    for rule in rules:
        nc_exp = rule.get("NoncurrentVersionExpiration") or {}
        if "NewerNoncurrentVersions" in nc_exp:
            raise ValueError(f"rule {rule.get('ID')!r}: NewerNoncurrentVersions is not simulated")
        if "NoncurrentDays" in nc_exp and nc_exp["NoncurrentDays"] <= noncurrent:
            return None
        for target in _fired(rule.get("NoncurrentVersionTransitions") or [], "NoncurrentDays", noncurrent):
            storage_class = _colder(storage_class, target)
    return storage_class


def simulate_lifecycle(
    config: Mapping[str, Any] | None, cohorts: Iterable[Cohort], *, versioned: bool = False
) -> dict[str, float]:
    """GB per storage class after the lifecycle rules have acted on ``cohorts`` (deleted data is gone).

    ``config`` is what ``get_bucket_lifecycle_configuration`` returns (None or no rules: nothing moves).
    Only ``Enabled`` rules whose filter matches a cohort act on it. When several transitions are due,
    the coldest class wins, and expiration wins over transition, as in S3. On a ``versioned`` bucket
    an expired current version becomes noncurrent (a delete marker hides it) instead of disappearing.
    """
    rules = [r for r in (config or {}).get("Rules", []) if r.get("Status") == "Enabled"]
    totals: dict[str, float] = {}
    for cohort in cohorts:
        if cohort.gb < 0:
            raise ValueError(f"{cohort.key}: gb must be >= 0")
        applicable = [r for r in rules if _filter_matches(r, cohort)]
        placed = _placement(applicable, cohort, versioned)
        if placed is not None:
            totals[placed] = totals.get(placed, 0.0) + cohort.gb
    return totals
