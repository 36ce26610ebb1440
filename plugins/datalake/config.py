"""The package's configuration: one YAML file, read once per process.

``include/datalake.yaml`` holds defaults that work on the embedded stack; production points the
environment variable ``DATALAKE_CONFIG`` at its own copy. Secrets never live here, only names of
the Airflow connections that hold them.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

# An installed wheel carries the SQL and the default configuration inside the package (datalake/include/);
# in the source tree (a checkout, an editable install) they are the repo's include/.
_PACKAGE_DIR = Path(__file__).resolve().parent
INCLUDE_DIR = _PACKAGE_DIR / "include"
if not INCLUDE_DIR.is_dir():
    INCLUDE_DIR = _PACKAGE_DIR.parents[1] / "include"
SQL_DIR = INCLUDE_DIR / "sql"
DEFAULT_CONFIG_PATH = INCLUDE_DIR / "datalake.yaml"
CONFIG_ENV_VAR = "DATALAKE_CONFIG"

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # read at every DAG parse: be quick
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ConfigError(ValueError):
    """The configuration file is missing something or holds a value the package cannot use."""


@dataclass(frozen=True)
class LakeConfig:
    bucket: str


@dataclass(frozen=True)
class AthenaConfig:
    workgroup: str
    results_bucket: str
    results_prefix: str = "results"
    query_timeout_minutes: int = 20

    def output_location(self, *parts: str) -> str:
        suffix = "/".join(p.strip("/") for p in parts if p)
        return f"s3://{self.results_bucket}/{self.results_prefix}/{suffix}/".replace("//", "/").replace(
            "s3:/", "s3://"
        )


@dataclass(frozen=True)
class StravaConfig:
    conn_id: str
    database: str
    table: str
    start_date: str
    schedule: str
    airflow_api_conn_id: str = "airflow_api"


@dataclass(frozen=True)
class InventoryConfig:
    """One Amazon S3 Inventory configuration, as set up on the source bucket."""

    name: str
    source_bucket: str
    destination_bucket: str
    destination_prefix: str
    config_id: str
    database: str
    table: str
    start_date: str
    format: str = "Parquet"
    frequency: str = "daily"
    wait_timeout_hours: float = 30
    partition_projection: bool = False

    @property
    def dag_id(self) -> str:
        return f"s3_inventory_{self.name}"

    @property
    def base_prefix(self) -> str:
        """``<destination-prefix>/<source-bucket>/<config-id>`` with no leading or trailing slash."""
        parts = [self.destination_prefix.strip("/"), self.source_bucket, self.config_id]
        return "/".join(p for p in parts if p)

    @property
    def hive_location(self) -> str:
        """The Athena table's LOCATION (see :mod:`datalake.inventory.layout`)."""
        from datalake.inventory.layout import hive_location

        return hive_location(self.destination_bucket, self.base_prefix)


@dataclass(frozen=True)
class AlertsConfig:
    notifier: str = "sns"
    sns_topic_arn: str | None = None
    smtp_to: tuple[str, ...] = ()
    slack_conn_id: str = "slack_default"  # an incoming webhook: it posts to its own channel
    summary_deadline_minutes: int = 180  # a daily_summaries run not done this long after queueing alerts


@dataclass(frozen=True)
class ReportsConfig:
    bucket: str
    prefix: str = "reports"


@dataclass(frozen=True)
class DatalakeConfig:
    aws_conn_id: str
    region: str
    owner: str
    lake: LakeConfig
    athena: AthenaConfig
    strava: StravaConfig
    alerts: AlertsConfig
    reports: ReportsConfig
    inventories: tuple[InventoryConfig, ...] = field(default_factory=tuple)
    source: str = ""

    def inventory(self, name: str) -> InventoryConfig:
        for inv in self.inventories:
            if inv.name == name:
                return inv
        raise ConfigError(f"no inventory configuration named {name!r} in {self.source}")


def _build(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    values = {}
    for name, value in raw.items():
        if isinstance(value, list):
            value = tuple(value)
        values[name] = value
    try:
        return cls(**values)
    except TypeError as exc:  # a required key is missing
        raise ConfigError(f"{where}: {exc}") from None


def parse_config(raw: dict[str, Any], source: str = "<memory>") -> DatalakeConfig:
    """Validate a parsed YAML document and turn it into a :class:`DatalakeConfig`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the file must hold a mapping")
    sections = {
        "lake": LakeConfig,
        "athena": AthenaConfig,
        "strava": StravaConfig,
        "alerts": AlertsConfig,
        "reports": ReportsConfig,
    }
    built: dict[str, Any] = {}
    for key, cls in sections.items():
        built[key] = _build(cls, raw.get(key, {}), f"{source}: {key}")
    inventories = []
    seen: set[str] = set()
    for i, item in enumerate(raw.get("inventories") or []):
        inv = _build(InventoryConfig, item, f"{source}: inventories[{i}]")
        where = f"{source}: inventory {inv.name!r}"
        if not _NAME.match(inv.name):
            raise ConfigError(f"{where}: name must be lower-case letters, digits and underscores")
        if inv.name in seen:
            raise ConfigError(f"{where}: the name is used twice")
        if inv.format not in ("Parquet", "CSV", "ORC"):
            raise ConfigError(f"{where}: format must be Parquet, CSV or ORC, not {inv.format!r}")
        if inv.frequency not in ("daily", "weekly"):
            raise ConfigError(f"{where}: frequency must be daily or weekly, not {inv.frequency!r}")
        seen.add(inv.name)
        inventories.append(inv)
    top = {k: v for k, v in raw.items() if k not in sections and k != "inventories"}
    unknown = sorted(set(top) - {"aws_conn_id", "region", "owner"})
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}")
    return DatalakeConfig(
        aws_conn_id=top.get("aws_conn_id", "aws_default"),
        region=top.get("region", "us-east-1"),
        owner=top.get("owner", "data-platform"),
        inventories=tuple(inventories),
        source=source,
        **built,
    )


def load_config(path: str | os.PathLike[str] | None = None) -> DatalakeConfig:
    """Read the configuration from ``path``, ``$DATALAKE_CONFIG`` or ``include/datalake.yaml``."""
    chosen = Path(path or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)
    try:
        text = chosen.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {chosen}: {exc.strerror}") from None
    try:
        raw = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader, the C one when built
    except yaml.YAMLError as exc:
        raise ConfigError(f"{chosen} is not valid YAML: {exc}") from None
    return parse_config(raw, str(chosen))


@functools.cache
def get_config() -> DatalakeConfig:
    """The process-wide configuration (read once)."""
    return load_config()
