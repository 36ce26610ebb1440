"""A token task killed (or out of time) right after Strava answered loses nothing: the next try writes the
journal's tokens.

The kill is real: ``airflow dags test`` in a child process refreshes through the API server, with a proxy
in front of it that holds the write-back of the new tokens; once Strava has answered (it recorded the
refresh and rotated the token) and the write is on the wire, the task's process, the journal entry's
writer, gets SIGKILL. The next ``airflow dags test`` of the same interval must then succeed with no
second refresh and no re-authorisation, and no token may reach a log or an XCom.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest

from datalake.config import get_config
from datalake.strava.errors import StravaError
from datalake.strava.hook import StravaHook
from datalake.strava.journal import ANSWERED, TokenJournal
from datalake.strava.store import AirflowApiStore
from datalake.strava.tokens import ensure_fresh_tokens
from devstack.processes import spawn, stop_group
from tests.strava.api_proxy import ApiProxy, Rule
from tests.strava.conftest import (
    AIRFLOW,
    END,
    ApiServer,
    create_lake_buckets,
    dag_run_env,
    put_strava_connections,
    texts_under,
    token_posts,
)


@pytest.mark.e2e
def test_a_token_task_killed_right_after_stravas_answer_loses_nothing(
    airflow_api: ApiServer,
    strava,
    local_aws: str,
    api_proxy: ApiProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = get_config()
    conn_id = config.strava.conn_id
    create_lake_buckets(local_aws)
    put_strava_connections(
        airflow_api,
        strava,
        strava_conn_id=conn_id,
        api_conn_id=config.strava.airflow_api_conn_id,
        api_host=api_proxy.url,
    )
    write_back = api_proxy.add(
        Rule("PATCH", f"/api/v2/connections/{conn_id}", {"update_mask": "extra"}, hold=True)
    )
    first = strava.refresh_token
    logical = (END - timedelta(days=2) + timedelta(hours=4)).isoformat()
    monkeypatch.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")  # read connections and Variables as the server
    from airflow.sdk.bases.hook import BaseHook

    killed = spawn(
        [AIRFLOW, "dags", "test", "strava_activities", logical],
        log_path=tmp_path / "killed.log",
        env=dag_run_env(local_aws, tmp_path / "logs-killed"),
    )
    try:
        assert write_back.matched.wait(240), (tmp_path / "killed.log").read_text()[-3000:]
        assert [(r.path, r.status) for r in strava.requests] == [("/oauth/token", 200)]
        assert strava.refresh_token != first  # Strava rotated: the stored refresh token is dead now
        entry = TokenJournal(conn_id).read()
        assert entry is not None
        assert entry.state == ANSWERED
        writer_pid = int(entry.writer.split(":")[1])
        assert os.getpgid(writer_pid) == killed.pid  # the task's process, in the child's group
        os.kill(writer_pid, signal.SIGKILL)
        killed.wait(timeout=60)
    finally:
        stop_group(killed.pid)
    api_proxy.release()
    assert BaseHook.get_connection(conn_id).extra_dejson["refresh_token"] == first  # the write never landed

    # the token task's next try (the rest of the run does not touch the connection)
    next_try = subprocess.run(
        [AIRFLOW, "tasks", "test", "strava_activities", "refresh_token", logical],
        env=dag_run_env(local_aws, tmp_path / "logs-next"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = next_try.stdout + next_try.stderr
    assert next_try.returncode == 0, output[-4000:]

    stored = BaseHook.get_connection(conn_id).extra_dejson
    assert stored["refresh_token"] == strava.refresh_token  # the journal's tokens, now in the connection
    assert token_posts(strava) == 1  # no second refresh (and no re-authorisation)
    assert TokenJournal(conn_id).read() is None
    assert "ended before writing the tokens" in output

    runs = airflow_api.call(  # the newest run: the next try (other tests' runs share the metadata DB)
        "GET", "/dags/strava_activities/dagRuns", params={"limit": 1, "order_by": "-id"}
    ).json()["dag_runs"]
    xcom = airflow_api.call(
        "GET",
        f"/dags/strava_activities/dagRuns/{runs[0]['dag_run_id']}/taskInstances/refresh_token"
        "/xcomEntries/return_value",
    ).json()["value"]
    outcome = xcom if isinstance(xcom, dict) else json.loads(xcom)
    assert outcome["recovered_from_journal"] is True
    assert outcome["refreshed"] is False

    secrets = [first, stored["refresh_token"], stored["access_token"], strava.client_secret]
    texts = [output, json.dumps(outcome), (tmp_path / "killed.log").read_text(errors="replace")]
    for text in texts + texts_under(tmp_path / "logs-killed", tmp_path / "logs-next"):
        for secret in secrets:
            assert secret not in text


def test_a_write_back_that_hangs_ends_within_the_budget_and_the_next_try_writes_it(
    airflow_api: ApiServer, strava, api_proxy: ApiProxy, metastore_reads: None
) -> None:
    from airflow.sdk.bases.hook import BaseHook

    put_strava_connections(
        airflow_api,
        strava,
        strava_conn_id="strava_hang",
        api_conn_id="airflow_api_hang",
        api_host=api_proxy.url,
    )
    api_proxy.add(Rule("PATCH", "/api/v2/connections/strava_hang", {"update_mask": "extra"}, hold=True))
    store = AirflowApiStore("airflow_api_hang")
    budget = 6.0
    started = time.monotonic()
    with pytest.raises(StravaError) as caught:  # not AirflowFailException: the next try recovers it
        ensure_fresh_tokens(
            BaseHook.get_connection("strava_hang"),
            lambda _id: store,
            journal=TokenJournal("strava_hang"),
            budget_s=budget,
        )
    elapsed = time.monotonic() - started

    assert elapsed < budget + 2, elapsed  # the deadline, not the task's time limit, ended it
    message = str(caught.value)
    assert "Strava has rotated the refresh token" in message
    assert "Nothing is lost" in message
    assert "datalake_strava_token_journal__strava_hang" in message
    assert strava.refresh_token not in message

    api_proxy.release()
    outcome = StravaHook("strava_hang", airflow_api_conn_id="airflow_api_hang").ensure_fresh_token()
    assert outcome.recovered
    assert BaseHook.get_connection("strava_hang").extra_dejson["refresh_token"] == strava.refresh_token
    assert token_posts(strava) == 1
