"""The Airflow Assets that connect the DAGs: producers publish them, the summaries DAG is scheduled on them.

The UI's asset graph then shows the data flow: Strava and each inventory drop into the summaries.
"""

from __future__ import annotations

from airflow.sdk import Asset

from datalake.config import DatalakeConfig, InventoryConfig, get_config
from datalake.strava.layout import curated_location


def strava_activities_asset(config: DatalakeConfig | None = None) -> Asset:
    config = config or get_config()
    return Asset(
        name="strava_activities",
        uri=curated_location(config.lake.bucket),
        group="strava",
    )


def inventory_asset(inventory: InventoryConfig) -> Asset:
    return Asset(name=f"s3_inventory_{inventory.name}", uri=inventory.hive_location, group="s3_inventory")
