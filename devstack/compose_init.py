"""One-shot set-up for docker-compose.yaml: migrate the DB, provision the local AWS, create connections.

The compose file runs it as the ``airflow-init`` service, after the local AWS and the Strava stand-in
are healthy. The Strava stand-in's client credentials are random per start: read from its state file.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from datalake.config import get_config
from devstack.stack import provision_aws, stack_connections, write_inventory_drops


def _airflow(*args: str) -> None:
    subprocess.run(["airflow", *args], check=True)


def main() -> int:
    config = get_config()
    aws_url = os.environ["LOCAL_AWS_URL"]
    strava = json.loads(Path(os.environ["STRAVA_STATE_FILE"]).read_text())
    passwords = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    if not passwords.exists():  # the admin password, generated once; the token task uses it too
        passwords.write_text(json.dumps({"admin": secrets.token_urlsafe(16)}))
        passwords.chmod(0o600)
    admin_password = json.loads(passwords.read_text())["admin"]
    _airflow("db", "migrate")
    provision_aws(aws_url, config)
    write_inventory_drops(aws_url, config, today=datetime.now(UTC).date())
    connections = stack_connections(
        config,
        aws_url=aws_url,
        strava_url=os.environ["STRAVA_URL"],
        strava=strava,
        api_url="http://airflow-apiserver:8080",
        api_username="admin",
        api_password=admin_password,
        plain_http=True,  # the compose network, not loopback
    )
    for conn_id, fields in connections.items():
        subprocess.run(["airflow", "connections", "delete", conn_id], check=False, capture_output=True)
        _airflow("connections", "add", conn_id, "--conn-json", json.dumps(fields))
    print("local AWS provisioned, connections created", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
