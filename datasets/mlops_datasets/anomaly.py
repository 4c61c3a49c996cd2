"""IoT sensor readings per device and daily account activity, with rare labelled anomalies.

Sensors: each device reports one value every 5 minutes: its own level, a daily cycle and AR(1)
noise. Planted anomalies: spikes (one reading), level shifts, slow drifts and stuck sensors
(the same value repeated). Accounts: daily logins, failed logins, payments and countries per
account with a weekly rhythm; planted anomalies: account takeovers and bot bursts.
Anomalous rows are well under 1% of each table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_datasets.common import Size, Writer, epoch_day, iso_dates, iso_seconds, read_csv, read_json, rng_for

NAME = "anomaly"
SUMMARY = "IoT sensor readings and account activity with rare labelled anomalies (spike, shift, drift, stuck)"
MIRRORS = "NAB / SKAB-style machine sensor streams and account-takeover monitoring logs"

STEP_S = 300
START_DATE = "2024-03-04"
SENSORS: dict[str, dict[str, int]] = {"ci": {"devices": 30, "steps": 2880}, "full": {"devices": 300, "steps": 8640}}
ACCOUNTS: dict[str, dict[str, int]] = {"ci": {"accounts": 1000, "days": 90}, "full": {"accounts": 10000, "days": 180}}
# Anomaly events per 100k sensor readings and their lengths in readings.
SENSOR_EVENTS = {"spike": 35, "level_shift": 3.5, "drift": 2.3, "stuck": 3.5}
SENSOR_LENGTH = {"spike": (1, 2), "level_shift": (20, 60), "drift": (50, 150), "stuck": (20, 60)}
ACCOUNT_EVENTS_PER_100K = {"account_takeover": 60, "bot_activity": 40}

SENSOR_TYPES = {  # type: (level range, daily amplitude range, noise sd range, unit)
    "temperature": ((40.0, 70.0), (2.0, 6.0), (0.3, 0.6), "degC"),
    "pressure": ((2.0, 6.0), (0.1, 0.4), (0.02, 0.05), "bar"),
    "vibration": ((5.0, 15.0), (0.5, 2.0), (0.3, 0.8), "mm/s"),
}
AR_PHI = 0.8


def _place(rng: np.random.Generator, busy: np.ndarray, length: int) -> tuple[int, int]:
    """A random (device, start) whose window and a margin around it are still free."""
    n_dev, n_steps = busy.shape
    while True:
        d, s = int(rng.integers(n_dev)), int(rng.integers(200, n_steps - length - 1))
        if not busy[d, s - 100 : s + length + 100].any():
            busy[d, s - 100 : s + length + 100] = True
            return d, s


def _sensors(size: Size) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    from scipy.signal import lfilter  # imported here: scipy.signal is slow to import

    rng = rng_for(NAME, size, "sensors")
    n_dev, n_steps = SENSORS[size]["devices"], SENSORS[size]["steps"]
    types = np.array(list(SENSOR_TYPES))[np.arange(n_dev) % len(SENSOR_TYPES)]
    params = np.array([[rng.uniform(*r) for r in SENSOR_TYPES[t][:3]] for t in types])
    level, amp, sd = params[:, 0:1], params[:, 1:2], params[:, 2:3]
    phase = rng.uniform(0, 2 * np.pi, (n_dev, 1))
    steps = np.arange(n_steps)
    # Innovations scaled so that the AR(1) noise has standard deviation ``sd``.
    noise = lfilter([1.0], [1.0, -AR_PHI], rng.normal(0, 1, (n_dev, n_steps)), axis=1) * np.sqrt(1 - AR_PHI**2)
    values = level + amp * np.sin(2 * np.pi * steps / 288 + phase) + sd * noise
    kind = np.full((n_dev, n_steps), "normal", dtype=object)
    busy = np.zeros((n_dev, n_steps), dtype=bool)
    counts: dict[str, int] = {}
    for name, per_100k in SENSOR_EVENTS.items():
        counts[name] = max(2, round(per_100k * n_dev * n_steps / 100_000))
        for _ in range(counts[name]):
            length = int(rng.integers(*SENSOR_LENGTH[name]))
            d, s = _place(rng, busy, length)
            sign = rng.choice([-1.0, 1.0])
            window = slice(s, s + length)
            if name == "spike":
                values[d, s] += sign * rng.uniform(6, 10) * sd[d, 0]
            elif name == "level_shift":
                values[d, window] += sign * rng.uniform(4, 6) * sd[d, 0]
            elif name == "drift":
                values[d, window] += sign * np.linspace(0, rng.uniform(6, 10) * sd[d, 0], length)
            else:  # stuck: the last good reading repeated
                values[d, window] = values[d, s - 1]
            kind[d, window] = name
    device_ids = np.char.mod("dev-%03d", np.arange(n_dev))
    t0 = epoch_day(START_DATE) * 86_400
    readings = pd.DataFrame(
        {
            "device_id": np.repeat(device_ids, n_steps),
            "timestamp": np.tile(iso_seconds(t0 + steps * STEP_S), n_dev),
            "value": values.ravel(),
            "is_anomaly": (kind != "normal").ravel().astype(np.int8),
            "anomaly_type": kind.ravel(),
        }
    )
    devices = pd.DataFrame(
        {
            "device_id": device_ids,
            "sensor_type": types,
            "unit": [SENSOR_TYPES[t][3] for t in types],
            "site": np.char.mod("site-%d", rng.integers(1, 6, n_dev)),
            "noise_sd": np.round(sd[:, 0], 4),
        }
    )
    info = {
        "readings": len(readings),
        "anomalous_readings": int(readings["is_anomaly"].sum()),
        "anomaly_rate": round(float(readings["is_anomaly"].mean()), 5),
        "events": counts,
        "sizes_in_noise_sd": {"spike": "6-10", "level_shift": "4-6", "drift": "ramp to 6-10", "stuck": "0 variance"},
        "lengths_in_readings": {k: [lo, hi - 1] for k, (lo, hi) in SENSOR_LENGTH.items()},
        "normal": f"level + daily sine + AR(1) noise (phi={AR_PHI}), one reading every {STEP_S} s",
    }
    return readings, devices, info


def _accounts(size: Size) -> tuple[pd.DataFrame, dict[str, Any]]:
    rng = rng_for(NAME, size, "accounts")
    n_acc, n_days = ACCOUNTS[size]["accounts"], ACCOUNTS[size]["days"]
    shape = (n_acc, n_days)
    weekly = np.array([1.0, 1.0, 1.0, 1.05, 1.1, 0.8, 0.7])[np.arange(n_days) % 7]  # day 0 is a Monday
    login_rate = rng.lognormal(np.log(3.0), 0.6, (n_acc, 1)) * weekly
    logins = rng.poisson(login_rate)
    failed = rng.binomial(logins + 1, 0.05)
    tx = rng.poisson(rng.lognormal(np.log(1.5), 0.7, (n_acc, 1)) * weekly)
    amount = tx * rng.lognormal(np.log(rng.lognormal(np.log(40.0), 0.5, (n_acc, 1))), 0.4, shape)
    countries = np.ones(shape, dtype=np.int64) + (rng.random(shape) < 0.02)
    kind = np.full(shape, "normal", dtype=object)
    counts: dict[str, int] = {}
    for name, per_100k in ACCOUNT_EVENTS_PER_100K.items():
        counts[name] = max(2, round(per_100k * n_acc * n_days / 100_000))
        cells = rng.choice(n_acc * n_days, counts[name], replace=False)
        a, d = np.unravel_index(cells, shape)
        if name == "account_takeover":  # password spraying, then a spend from abroad
            failed[a, d] += rng.integers(3, 15, len(a))
            countries[a, d] += rng.integers(0, 3, len(a))
            tx[a, d] += rng.integers(1, 3, len(a))
            amount[a, d] = tx[a, d] * rng.uniform(60, 300, len(a))
        else:  # scripted logins and many tiny payments
            logins[a, d] += rng.integers(6, 30, len(a))
            tx[a, d] += rng.integers(4, 15, len(a))
            amount[a, d] = tx[a, d] * rng.uniform(0.5, 3.0, len(a))
        kind[a, d] = name
    day0 = epoch_day(START_DATE)
    frame = pd.DataFrame(
        {
            "account_id": np.repeat(np.char.mod("acct-%05d", np.arange(n_acc)), n_days),
            "date": np.tile(iso_dates(day0 + np.arange(n_days)), n_acc),
            "logins": logins.ravel(),
            "failed_logins": failed.ravel(),
            "payments": tx.ravel(),
            "amount": np.round(amount.ravel(), 2),
            "countries": countries.ravel(),
            "is_anomaly": (kind != "normal").ravel().astype(np.int8),
            "anomaly_type": kind.ravel(),
        }
    )
    info = {
        "rows": len(frame),
        "anomalous_rows": int(frame["is_anomaly"].sum()),
        "anomaly_rate": round(float(frame["is_anomaly"].mean()), 5),
        "events": counts,
        "account_takeover": "failed_logins +3..14, countries +0..2, 1-2 extra payments of 60-300 each",
        "bot_activity": "logins +6..29, payments +4..14 of 0.5-3.0 each",
    }
    return frame, info


def generate(size: Size, out: Writer) -> None:
    readings, devices, sensor_info = _sensors(size)
    accounts, account_info = _accounts(size)
    out.csv("sensor_readings.csv", readings)
    out.csv("devices.csv", devices)
    out.csv("account_activity.csv", accounts, decimals={"amount": 2})
    out.planted({"sensors": sensor_info, "accounts": account_info})


def load(directory: Path) -> dict[str, Any]:
    readings = read_csv(directory / "sensor_readings.csv", dtype={"anomaly_type": str})
    readings["timestamp"] = pd.to_datetime(readings["timestamp"], utc=True)
    accounts = read_csv(directory / "account_activity.csv", dtype={"anomaly_type": str})
    accounts["date"] = pd.to_datetime(accounts["date"])
    return {
        "sensor_readings": readings,
        "devices": read_csv(directory / "devices.csv"),
        "account_activity": accounts,
        "planted": read_json(directory / "planted.json"),
    }
