"""What storage costs and what to do about it: the cost, savings and age summaries give the known answer on
the embedded stack's simulated bucket, through the stack's Athena and the report's own pricing.

The expected answers are computed in plain Python from the generated rows and the price table
(``expected.py``); each test first checks that the drop holds what makes its rule matter (objects below a
minimum billable size, objects still inside a minimum duration, ...), so that a rule dropped from the
SQL or the pricing changes the answer.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bench.summary_scans import NEEDS
from datalake.reports import costs, savings
from datalake.reports.document import age_histogram
from datalake.reports.queries import AGE_BUCKETS, inventory_values, render_query

from . import expected
from .conftest import SIMULATED_DAYS, simulated_rows

DAY = SIMULATED_DAYS[-1]
KB = 1024


def values_of(config, variant: str, simulated, *, tiers: bool = True) -> dict[str, Any]:
    inv = simulated[variant]["inventory"]
    return inventory_values(config, inv, simulated[variant]["drops"][DAY].dt, None, tiers=tiers)


def run(athena, name: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    return athena.run(render_query(name, values))[0]


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return simulated_rows(DAY).to_pylist()


@pytest.fixture(scope="module")
def dt(simulated) -> str:
    return simulated["daily"]["drops"][DAY].dt


def by_class_and_state(found: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        c["storage_class"]: {
            state: {
                "objects": c[f"{state}_objects"],
                "bytes": c[f"{state}_bytes"],
                "usd": c[f"{state}_usd"],
            }
            for state in costs.STATES
            if c[f"{state}_objects"]
        }
        | {"commitment": c["commitment_usd"]}
        for c in found
    }


def assert_same_costs(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert set(got) == set(want)
    for storage_class, states in want.items():
        assert got[storage_class]["commitment"] == pytest.approx(states["commitment"], rel=1e-9), (
            storage_class
        )
        assert set(got[storage_class]) == set(states), storage_class
        for state, numbers in states.items():
            if state == "commitment":
                continue
            mine = got[storage_class][state]
            assert (mine["objects"], mine["bytes"]) == (numbers["objects"], numbers["bytes"]), (
                storage_class,
                state,
            )
            if numbers["usd"] is None:  # a class the table has no price for
                assert mine["usd"] is None, (storage_class, state)
                continue
            assert mine["usd"] == pytest.approx(numbers["usd"], rel=1e-9), (storage_class, state)


def test_the_drop_holds_what_makes_each_billing_rule_matter(rows, simulated_config, dt):
    now = expected.snapshot(dt)
    rules = simulated_config.prices.rules
    live = [r for r in rows if not r["is_delete_marker"]]
    small = [
        r
        for r in live
        if r["storage_class"] in rules and r["size"] < rules[r["storage_class"]].min_billable_kb * KB
    ]
    young = [
        r
        for r in live
        if r["storage_class"] in rules
        and (now - expected.epoch_ms(r["last_modified_date"])) / expected.DAY_MS
        < rules[r["storage_class"]].min_days
    ]
    assert {r["storage_class"] for r in small} >= {"ONEZONE_IA"}  # billed as 128 KB
    assert {r["storage_class"] for r in young} >= {"GLACIER", "DEEP_ARCHIVE"}  # still owe days
    assert {r["storage_class"] for r in live} >= {"GLACIER", "DEEP_ARCHIVE"}  # the per-object overhead
    tiers = {
        r["intelligent_tiering_access_tier"] for r in live if r["storage_class"] == "INTELLIGENT_TIERING"
    }
    assert tiers == {"FREQUENT", "INFREQUENT", "ARCHIVE_INSTANT_ACCESS"}
    assert any(r["is_delete_marker"] for r in rows)
    assert "REDUCED_REDUNDANCY" in {r["storage_class"] for r in live}  # no price in the table


def test_costs_per_class_apply_minimum_size_overhead_and_minimum_duration(
    athena, simulated, simulated_config, rows, dt
):
    results = run(athena, "inventory_costs", values_of(simulated_config, "daily", simulated))
    found = costs.class_costs(results, simulated_config.region_prices(simulated["daily"]["inventory"]))
    got = by_class_and_state(found)

    want = expected.class_costs(
        [r for r in rows if r["storage_class"] != "REDUCED_REDUNDANCY"], simulated_config, dt
    )
    unpriced = got.pop("REDUCED_REDUNDANCY")
    assert_same_costs(got, want)
    assert all(state["usd"] is None for name, state in unpriced.items() if name != "commitment")
    assert next(c for c in found if c["storage_class"] == "REDUCED_REDUNDANCY")["unpriced"]
    # the rules change the answer: billed more than stored in the minimum-size and archive classes
    for storage_class in ("ONEZONE_IA", "GLACIER", "DEEP_ARCHIVE"):
        priced_as_stored = want[storage_class]["current"]["bytes"] / expected.GIB
        priced_as_stored *= simulated_config.prices.regions["us-east-1"].storage[storage_class]
        assert want[storage_class]["current"]["usd"] > priced_as_stored, storage_class
    assert want["GLACIER"]["commitment"] > 0
    assert want["STANDARD"]["delete_marker"]["usd"] > 0


@pytest.mark.parametrize("variant", ["csv", "orc"])
def test_csv_and_orc_reports_cost_the_same_as_parquet(athena, simulated, simulated_config, variant):
    prices = simulated_config.region_prices(simulated["daily"]["inventory"])
    parquet = costs.class_costs(
        run(athena, "inventory_costs", values_of(simulated_config, "daily", simulated)), prices
    )
    other = costs.class_costs(
        run(athena, "inventory_costs", values_of(simulated_config, variant, simulated)), prices
    )
    assert_same_costs(by_class_and_state(other), by_class_and_state(parquet) | {})


def test_without_the_tier_column_intelligent_tiering_is_priced_at_frequent_access(
    athena, simulated, simulated_config, rows, dt
):
    values = values_of(simulated_config, "no_tiers", simulated, tiers=False)
    found = costs.class_costs(
        run(athena, "inventory_costs", values),
        simulated_config.region_prices(simulated["no_tiers"]["inventory"]),
    )
    tiering = next(c for c in found if c["storage_class"] == "INTELLIGENT_TIERING")
    tiering_rows = [r for r in rows if r["storage_class"] == "INTELLIGENT_TIERING"]
    want = expected.class_costs(tiering_rows, simulated_config, dt, tiers=False)["INTELLIGENT_TIERING"]
    assert tiering["current_usd"] == pytest.approx(want["current"]["usd"], rel=1e-9)
    assert tiering["tiers_unknown"]
    with_tiers = expected.class_costs(tiering_rows, simulated_config, dt)["INTELLIGENT_TIERING"]
    assert want["current"]["usd"] > with_tiers["current"]["usd"]  # Frequent Access: an upper bound


def test_a_price_override_changes_the_dollars_and_not_the_query(
    athena, simulated, simulated_config, rows, dt
):
    region = simulated_config.prices.regions["us-east-1"]
    cheaper = dataclasses.replace(region, storage={**region.storage, "STANDARD": 0.01})
    overridden = dataclasses.replace(
        simulated_config, prices=dataclasses.replace(simulated_config.prices, regions={"us-east-1": cheaper})
    )
    values, again = values_of(simulated_config, "daily", simulated), values_of(overridden, "daily", simulated)
    assert render_query("inventory_costs", values) == render_query("inventory_costs", again)
    results = run(athena, "inventory_costs", values)
    listed = costs.class_costs(results, region)
    negotiated = costs.class_costs(results, cheaper)
    standard = {c["storage_class"]: c["current_usd"] for c in listed}["STANDARD"]
    assert {c["storage_class"]: c["current_usd"] for c in negotiated}["STANDARD"] == pytest.approx(
        standard * 0.01 / 0.023, rel=1e-9
    )


def test_old_standard_objects_save_in_standard_ia_and_glacier_ir_per_prefix(
    athena, simulated, simulated_config, rows, dt
):
    inv = simulated["daily"]["inventory"]
    results = run(athena, "inventory_savings_standard", values_of(simulated_config, "daily", simulated))
    want = expected.old_standard(rows, simulated_config, dt)
    assert want, "the simulated bucket has old STANDARD objects (legal/, shared/)"
    assert {r["prefix"]: (r["objects"], r["bytes"]) for r in results} == {
        p: (v["objects"], v["bytes"]) for p, v in want.items()
    }
    candidate = savings.standard_candidate(results, simulated_config, inv)
    prices = simulated_config.prices.regions["us-east-1"].storage
    for option, target in zip(candidate["options"], savings.TARGETS, strict=True):
        saving = sum(v["bytes"] * prices["STANDARD"] - v[target] * prices[target] for v in want.values())
        assert option["saving_usd"] == pytest.approx(saving / expected.GIB, rel=1e-9), target
        days = simulated_config.prices.rules[target].min_days
        least = sum(v[target] for v in want.values()) / expected.GIB * prices[target] * days / 30
        assert option["one_off_usd"] == pytest.approx(least, rel=1e-9), target
    # too small or too young: not candidates
    young = [r for r in rows if r["storage_class"] == "STANDARD" and r["key"].startswith("imports/")]
    assert young
    assert "imports/" not in want


def test_noncurrent_versions_long_enough_are_what_an_expiry_rule_saves(
    athena, simulated, simulated_config, rows, dt
):
    inv = simulated["daily"]["inventory"]
    results = run(athena, "inventory_savings_noncurrent", values_of(simulated_config, "daily", simulated))
    versions = expected.noncurrent_long_enough(rows, simulated_config, dt)
    assert versions, "exports/ and shared/ keep their non-current versions"
    noncurrent = [r for r in rows if not r["is_latest"] and not r["is_delete_marker"]]
    assert len(versions) < len(noncurrent)  # the younger ones are left out
    assert sum(r["objects"] for r in results) == len(versions)
    assert sum(r["bytes"] for r in results) == sum(r["size"] for r in versions)
    now = expected.snapshot(dt)
    billed = [expected.billed(r, simulated_config, now) for r in versions]
    candidate = savings.priced_candidate(results, simulated_config, inv, "expire")
    (option,) = candidate["options"]
    assert option["saving_usd"] == pytest.approx(expected.dollars(billed, simulated_config), rel=1e-9)
    assert option["one_off_usd"] == pytest.approx(expected.commitment(billed, simulated_config), rel=1e-9)


def test_delete_markers_with_no_versions_behind_them_are_found_by_prefix(
    athena, simulated, simulated_config, rows
):
    results = run(athena, "inventory_savings_delete_markers", values_of(simulated_config, "daily", simulated))
    lone = expected.lone_delete_markers(rows)
    markers = [r for r in rows if r["is_delete_marker"]]
    assert lone
    assert len(lone) < len(markers)  # the markers with versions behind them are not candidates
    assert {r["prefix"]: r["objects"] for r in results} == {"tmp/": len(lone)}
    assert sum(r["billable_bytes"] for r in results) == sum(len(r["key"].encode()) for r in lone)


def test_zero_byte_folder_objects_are_found_by_prefix_and_class(athena, simulated, simulated_config, rows):
    results = run(athena, "inventory_savings_folders", values_of(simulated_config, "daily", simulated))
    folders = expected.folder_objects(rows)
    assert folders
    per_prefix: dict[str, int] = {}
    for r in folders:
        per_prefix[expected.top_prefix(r["key"])] = per_prefix.get(expected.top_prefix(r["key"]), 0) + 1
    want = expected.ranked({p: {"objects": n} for p, n in per_prefix.items()}, "objects", 10)
    got: dict[str, int] = {}
    for r in results:
        got[r["prefix"]] = got.get(r["prefix"], 0) + r["objects"]
    assert got == {p: v["objects"] for p, v in want.items()}


@pytest.mark.parametrize("name", sorted(NEEDS))
def test_each_summary_reads_only_its_drop_and_the_columns_it_needs(athena, simulated, simulated_config, name):
    """What bench.summary_scans measures at a million objects: the floor, here on every run of the tests."""
    values = values_of(simulated_config, "daily", simulated)
    _, execution = athena.run(render_query(name, values))
    (read,) = athena.reads(execution["QueryExecutionId"])
    assert read["partitions"] == [[values["dt"]]]  # the table holds two drops: the other is not read
    assert set(read["columns"]) - {"dt"} == NEEDS[name]


def test_the_age_histogram_counts_current_versions_per_class_and_age(
    athena, simulated, simulated_config, rows, dt
):
    values = values_of(simulated_config, "daily", simulated)
    results = run(athena, "inventory_age_histogram", values)
    want = expected.age_histogram(rows, dt, values["age_edges"])
    assert {(r["storage_class"], r["age_bucket"]): [r["objects"], r["bytes"]] for r in results} == want
    assert len({bucket for _, bucket in want}) >= 5
    buckets = age_histogram(results)
    assert [b["label"] for b in buckets] == [label for _, label, _ in AGE_BUCKETS]
    assert sum(sum(b["objects"].values()) for b in buckets) == sum(n for n, _ in want.values())
