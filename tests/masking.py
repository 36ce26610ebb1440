"""Airflow's secrets masker as a task starts with it, for tests that run several "tasks" in one process."""

from __future__ import annotations


def fresh_masker() -> None:
    """What Airflow's task supervisor does before each task: both halves of the secrets masker (Airflow's
    and the Task SDK's) without the secrets registered before."""
    from airflow._shared.secrets_masker import reset_secrets_masker
    from airflow.sdk._shared.secrets_masker import reset_secrets_masker as reset_task_sdk_masker

    reset_secrets_masker()
    reset_task_sdk_masker()
