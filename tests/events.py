"""What a run the queue starts receives: its ``triggering_asset_events``, as the scheduler hands them over."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def triggering_events(asset: Any, payloads: list[dict[str, Any]]) -> Any:
    """``triggering_asset_events`` of one event of ``asset`` per watcher payload (one per batch of
    messages, as ``Trigger.submit_event`` records it)."""
    from airflow.sdk.api.datamodels._generated import AssetReferenceAssetEventDagRun
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    return TriggeringAssetEventsAccessor.build(
        [
            AssetEventDagRunReferenceResult(
                asset=AssetReferenceAssetEventDagRun(name=asset.name, uri=asset.uri, extra={}),
                extra={"from_trigger": True, "payload": payload},
                source_task_id=None,
                source_dag_id=None,
                source_run_id=None,
                source_map_index=None,
                source_aliases=[],
                timestamp=datetime.now(UTC),
            )
            for payload in payloads
        ]
    )
