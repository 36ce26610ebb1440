"""The package's configuration: one YAML file, read once per process.

``include/datalake.yaml`` holds defaults that work on the embedded stack; production points the
environment variable ``DATALAKE_CONFIG`` at its own copy. Secrets never live here, only names of
the Airflow connections that hold them. The storage prices the report uses ship as
``include/prices/s3.yaml``; the file's ``prices:`` section overrides any of them, and the merged table
is checked by the same rules.

Every value is checked when the file loads, before any DAG is built: names, buckets and prefixes reach
SQL statements, S3 keys and Jinja templates as they are written, so each field of the dataclasses below
declares its rule (``_key(RULE)``), and a broken file fails with the file, the key path and the rule,
e.g. ``inventories[1].table: must match [a-z][a-z0-9_]*, got 'media;drop'``.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from datetime import date, datetime
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
PRICES_PATH = INCLUDE_DIR / "prices" / "s3.yaml"
CONFIG_ENV_VAR = "DATALAKE_CONFIG"

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # read at every DAG parse: be quick


class ConfigError(ValueError):
    """The configuration file is missing something or holds a value the package cannot use.

    ``problems`` lists each one as ``<key path>: <rule>``; the message names the file and all of them.
    """

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


# --- the rules ----------------------------------------------------------------------------------------
# A rule takes the value as YAML gave it and returns the value to keep, or raises _Broken saying what
# the value must be. Patterns use fullmatch: ``$`` would let a trailing newline through.


class _Broken(ValueError):
    """A value that breaks its rule; ``at`` locates it inside the value (a list's ``[2]``)."""

    def __init__(self, must: str, value: Any, at: str = "") -> None:
        super().__init__(must)
        self.must, self.value, self.at = must, value, at


Rule = Callable[[Any], Any]


def _matching(pattern: str, max_len: int = 255, must: str = "") -> Rule:
    """A string that ``pattern`` matches whole, of at most ``max_len`` characters; ``must`` says it in
    words where the pattern would not."""
    compiled = re.compile(pattern)

    def rule(value: Any) -> str:
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise _Broken(must or f"must match {pattern}", value)
        if len(value) > max_len:
            raise _Broken(f"must be at most {max_len} characters", value)
        return value

    return rule


def _one_of(*choices: str) -> Rule:
    def rule(value: Any) -> str:
        if value not in choices or not isinstance(value, str):
            raise _Broken(f"must be one of {', '.join(choices)}", value)
        return value

    return rule


def _optional(inner: Rule) -> Rule:
    """``inner``, or null (the key left empty)."""
    return lambda value: None if value is None else inner(value)


def _list_of(inner: Rule, what: str) -> Rule:
    def rule(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise _Broken(f"must be a list of {what}", value)
        kept = []
        for i, item in enumerate(value):
            try:
                kept.append(inner(item))
            except _Broken as exc:
                raise _Broken(exc.must, exc.value, f"[{i}]{exc.at}") from None
        return tuple(kept)

    return rule


def _duration(unit: str, most: int) -> Rule:
    """A positive number of ``unit`` (a fraction allowed), at most ``most`` (a year)."""

    def rule(value: Any) -> float | int:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or not 0 < value <= most:
            raise _Broken(f"must be a number of {unit} above 0 and at most {most} (a year)", value)
        return value

    return rule


def _whole(least: int, most: int, what: str) -> Rule:
    """A whole number of ``what`` from ``least`` to ``most``."""

    def rule(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
            raise _Broken(f"must be a whole number of {what} from {least} to {most}", value)
        return value

    return rule


def _amount(what: str, most: float) -> Rule:
    """A number of ``what`` from 0 to ``most`` (a fraction allowed)."""

    def rule(value: Any) -> float | int:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or not 0 <= value <= most:
            raise _Broken(f"must be a number of {what} from 0 to {most}", value)
        return value

    return rule


def _share(value: Any) -> float | int:
    """A share of a total, above 0 (0.2 is 20 %); more than 1 allowed (a doubling is 1)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not 0 < value <= 100:
        raise _Broken("must be a share above 0 and at most 100 (0.2 is 20 %)", value)
    return value


def _fraction(value: Any) -> float | int:
    """A part of a whole, above 0 and at most 1 (0.5 is half)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not 0 < value <= 1:
        raise _Broken("must be a fraction above 0 and at most 1 (0.5 is half)", value)
    return value


def _text(value: Any) -> str:
    """One line of plain text (it reaches the report's page, escaped)."""
    if not isinstance(value, str) or not value.strip() or re.search(r"[\x00-\x1f\x7f]", value):
        raise _Broken("must be one line of text", value)
    if len(value) > 500:
        raise _Broken("must be at most 500 characters", value)
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):  # "false" in quotes is a string, and a string is true
        raise _Broken("must be true or false, unquoted", value)
    return value


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date(value: Any) -> str:
    """``YYYY-MM-DD``, a real day; an unquoted date (which YAML reads as a date) is kept as that text."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise _Broken("must be a date, YYYY-MM-DD", value)
    try:
        date.fromisoformat(value)
    except ValueError as exc:
        raise _Broken(f"must be a real date ({exc})", value) from None
    return value


def _cron(value: Any) -> str:
    """A schedule Airflow's cron timetable accepts (its presets such as ``@daily`` included)."""
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.sdk.exceptions import AirflowTimetableInvalid

    if not isinstance(value, str):
        raise _Broken("must be a cron expression such as '0 4 * * *'", value)
    try:
        CronDataIntervalTimetable(value, timezone="UTC").validate()
    except AirflowTimetableInvalid as exc:
        raise _Broken(f"must be a cron expression Airflow accepts ({exc})", value) from None
    return value


_BUCKET_CHARS = re.compile(r"[a-z0-9][a-z0-9.-]*[a-z0-9]")
_BUCKET_RESERVED_STARTS = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_ENDS = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def _bucket(value: Any) -> str:
    """A general purpose bucket name by Amazon S3's naming rules."""
    if not isinstance(value, str):
        raise _Broken("must be an S3 bucket name", value)
    if not 3 <= len(value) <= 63:
        why = "3 to 63 characters"
    elif not _BUCKET_CHARS.fullmatch(value):
        why = "lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit"
    elif ".." in value:
        why = "no two dots in a row"
    elif _is_ip_address(value):
        why = "not an IP address"
    elif value.startswith(_BUCKET_RESERVED_STARTS) or value.endswith(_BUCKET_RESERVED_ENDS):
        why = "not a prefix or suffix Amazon S3 reserves"
    else:
        return value
    raise _Broken(f"must be an S3 bucket name: {why}", value)


def _is_ip_address(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


# What a prefix must not hold, and why: prefixes reach SQL string literals (a table's LOCATION), S3 keys
# and Airflow's templated fields (an Athena task's output location) as they are written.
_PREFIX_FORBIDDEN = (
    (re.compile(r"['\"`]"), "quotes or backticks (they would end a quoted SQL string or name)"),
    (re.compile(r";"), "';' (it would end an SQL statement)"),
    (re.compile(r"\\"), "backslashes (Athena's DDL reads them as escapes)"),
    (re.compile(r"[{}]"), "braces (Airflow would render them as a Jinja template)"),
    (re.compile(r"[\x00-\x1f\x7f]"), "control characters such as a newline"),
    (re.compile(r"\.\."), "'..'"),
)


def _prefix(value: Any) -> str:
    """An S3 key prefix (empty allowed) that is safe to write into SQL, S3 keys and templates."""
    if not isinstance(value, str):
        raise _Broken("must be an S3 key prefix (text, possibly empty)", value)
    for pattern, what in _PREFIX_FORBIDDEN:
        if pattern.search(value):
            raise _Broken(f"must not hold {what}", value)
    return value


IDENTIFIER = _matching(r"[a-z][a-z0-9_]*")  # Glue and Athena names, unquoted in some statements
CONN_ID = _matching(r"[A-Za-z0-9_.-]+", max_len=250)  # Airflow's key characters and length
_REGION = r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}"
REGION = _matching(_REGION, must="must be an AWS region such as us-east-1")
WORKGROUP = _matching(r"[A-Za-z0-9._-]+", max_len=128)
CONFIG_ID = _matching(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", max_len=64)  # one folder of the drops' keys
OWNER = _matching(r"\w[\w ,.@-]*", max_len=100)
SNS_TOPIC_ARN = _matching(
    rf"arn:aws[a-z-]*:sns:{_REGION}:[0-9]{{12}}:[A-Za-z0-9_-]{{1,256}}(\.fifo)?",
    max_len=600,
    must="must be an SNS topic ARN, arn:aws:sns:<region>:<12-digit account>:<topic>",
)
EMAIL = _matching(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+",
    must="must be an e-mail address such as ops@example.com",
)
# A standard queue's URL as SQS gives it (Amazon S3 cannot send event notifications to a FIFO queue).
SQS_QUEUE_URL = _matching(
    rf"https://sqs\.{_REGION}\.amazonaws\.com(\.cn)?/[0-9]{{12}}/[A-Za-z0-9_-]{{1,80}}",
    max_len=200,
    must="must be the URL of a standard SQS queue, https://sqs.<region>.amazonaws.com/<12-digit account>/"
    "<queue> (Amazon S3 cannot notify a FIFO queue)",
)
FORMATS = ("Parquet", "CSV", "ORC")
FREQUENCIES = ("daily", "weekly")
NOTIFIERS = ("sns", "smtp", "slack")
# A storage class as S3 Inventory writes it; they reach SQL string literals as they are written.
STORAGE_CLASS = _matching(
    r"[A-Z][A-Z0-9_]*", max_len=64, must="must be an S3 storage class in capitals, such as STANDARD_IA"
)
ACCESS_TIERS = ("FREQUENT", "INFREQUENT", "ARCHIVE_INSTANT_ACCESS", "ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS")
PRICE = _amount("USD per GB-month", 1000)
KB = _amount("KB", 1_048_576)


def _key(rule: Rule, default: Any = MISSING) -> Any:
    """A field read from the YAML key of its name, checked by ``rule`` when the file loads.

    A section of the file is ``field(metadata={"section": cls})`` instead (``"sections"``: a list of them;
    :func:`_mapping`: a mapping whose keys are names, such as regions).
    """
    return field(default=default, metadata={"rule": rule})


def _mapping(key_rule: Rule, value: Rule | type, *, required: bool = True) -> Any:
    """A mapping from names that ``key_rule`` checks to values: a section (a dataclass) or a rule."""
    metadata = {"mapping": (key_rule, value)}
    return field(metadata=metadata) if required else field(default_factory=dict, metadata=metadata)


# --- the configuration --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LakeConfig:
    bucket: str = _key(_bucket)


@dataclass(frozen=True)
class AthenaConfig:
    workgroup: str = _key(WORKGROUP)
    results_bucket: str = _key(_bucket)
    results_prefix: str = _key(_prefix, "results")
    query_timeout_minutes: float = _key(_duration("minutes", 525_600), 20)

    def output_location(self, *parts: str) -> str:
        suffix = "/".join(p.strip("/") for p in parts if p)
        return f"s3://{self.results_bucket}/{self.results_prefix}/{suffix}/".replace("//", "/").replace(
            "s3:/", "s3://"
        )


# the streams strava.streams may name (one column each, latlng two)
STRAVA_STREAMS = ("time", "distance", "heartrate", "watts", "cadence", "altitude", "latlng")


@dataclass(frozen=True)
class StravaConfig:
    conn_id: str = _key(CONN_ID)
    database: str = _key(IDENTIFIER)
    table: str = _key(IDENTIFIER)
    start_date: str = _key(_date)
    schedule: str = _key(_cron)
    airflow_api_conn_id: str = _key(CONN_ID, "airflow_api")
    # How many days each run lists again and rewrites where Strava changed (its own day included; 0 and 1:
    # only its own day). At most a year: every run lists the whole window, history beyond is a backfill.
    reconcile_days: int = _key(_whole(0, 366, "days"), 7)
    # the SQS queue the webhook Lambda puts Strava's push events on: their days are reconciled at once
    events_queue_url: str | None = _key(_optional(SQS_QUEUE_URL), None)
    # the detailed view of each new or changed activity, its gear, and (optionally) its streams
    details: bool = _key(_flag, False)
    # the part of the rate budget left after the listing that detail calls may use; the rest waits
    details_budget_share: float = _key(_fraction, 0.5)
    streams: tuple[str, ...] = _key(_list_of(_one_of(*STRAVA_STREAMS), "stream types"), ())
    gear_refresh_days: int = _key(_whole(1, 366, "days"), 30)  # a gear's name is fetched again this often


@dataclass(frozen=True)
class InventoryConfig:
    """One Amazon S3 Inventory configuration, as set up on the source bucket."""

    name: str = _key(IDENTIFIER)
    source_bucket: str = _key(_bucket)
    destination_bucket: str = _key(_bucket)
    destination_prefix: str = _key(_prefix)
    config_id: str = _key(CONFIG_ID)
    database: str = _key(IDENTIFIER)
    table: str = _key(IDENTIFIER)
    start_date: str = _key(_date)
    # the source bucket's region, which prices its storage (default: the top-level region)
    region: str | None = _key(_optional(REGION), None)
    # storage classes its objects may be in; an object in another one is an anomaly (empty: no check)
    expected_classes: tuple[str, ...] = _key(_list_of(STORAGE_CLASS, "storage classes"), ())
    format: str = _key(_one_of(*FORMATS), "Parquet")
    frequency: str = _key(_one_of(*FREQUENCIES), "daily")
    wait_timeout_hours: float = _key(_duration("hours", 8_760), 30)
    partition_projection: bool = _key(_flag, False)
    # the SQS queue S3 notifies of each new manifest.checksum: registration starts when a drop lands
    events_queue_url: str | None = _key(_optional(SQS_QUEUE_URL), None)

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
    notifier: str = _key(_one_of(*NOTIFIERS), "sns")
    sns_topic_arn: str | None = _key(_optional(SNS_TOPIC_ARN), None)
    smtp_to: tuple[str, ...] = _key(_list_of(EMAIL, "e-mail addresses"), ())
    slack_conn_id: str = _key(CONN_ID, "slack_default")  # an incoming webhook: it posts to its own channel
    # a daily_summaries run not done this long after queueing alerts
    summary_deadline_minutes: float = _key(_duration("minutes", 525_600), 180)


@dataclass(frozen=True)
class SavingsConfig:
    """Which objects the savings candidates name (``reports.savings``)."""

    standard_age_days: int = _key(_whole(1, 3650, "days"), 90)  # STANDARD objects at least this old
    min_object_kb: float = _key(KB, 128)  # ... and at least this large
    noncurrent_age_days: int = _key(_whole(1, 3650, "days"), 30)  # non-current for longer than this
    top_prefixes: int = _key(_whole(1, 100, "prefixes"), 10)  # each candidate's largest prefixes


@dataclass(frozen=True)
class AnomaliesConfig:
    """When a day's inventory alerts (``reports.anomalies``), against the day summarised before it."""

    change_share: float = _key(_share, 0.2)  # total bytes or objects changing by more than this share
    delete_markers_share: float = _key(_share, 0.5)  # delete markers growing by more than this share
    delete_markers_min: int = _key(_whole(0, 10**12, "delete markers"), 100)  # ... and by at least this many
    unencrypted: bool = _key(_flag, True)  # more unencrypted (NOT-SSE) objects than the day before


@dataclass(frozen=True)
class ReportsConfig:
    bucket: str = _key(_bucket)
    prefix: str = _key(_prefix, "reports")
    # the daily storage summary: s3://<bucket>/<summary_prefix>/day=YYYY-MM-DD/<inventory>.parquet
    summary_database: str = _key(IDENTIFIER, "datalake_reports")
    summary_table: str = _key(IDENTIFIER, "daily_storage")
    summary_prefix: str = _key(_prefix, "daily-storage")
    trend_days: int = _key(_whole(2, 366, "days"), 90)  # the days the cost trend shows, the report's one too
    savings: SavingsConfig = field(default_factory=SavingsConfig, metadata={"section": SavingsConfig})
    anomalies: AnomaliesConfig = field(default_factory=AnomaliesConfig, metadata={"section": AnomaliesConfig})


@dataclass(frozen=True)
class ClassRules:
    """How Amazon S3 bills one storage class (``prices.rules.<class>``), in KB of 1,024 bytes."""

    min_billable_kb: float = _key(KB, 0)  # a smaller object is billed as this size
    min_days: int = _key(_whole(0, 3650, "days"), 0)  # deleted, overwritten or moved earlier: billed to here
    overhead_kb: float = _key(KB, 0)  # per object, at the class's own price
    overhead_standard_kb: float = _key(KB, 0)  # per object, at STANDARD's price
    monitoring_min_kb: float = _key(KB, 0)  # Intelligent-Tiering: smaller objects are not monitored


@dataclass(frozen=True)
class RegionPrices:
    """USD per GB-month of one region (``prices.regions.<region>``)."""

    storage: Mapping[str, float] = _mapping(STORAGE_CLASS, PRICE)
    intelligent_tiering: Mapping[str, float] = _mapping(_one_of(*ACCESS_TIERS), PRICE, required=False)
    monitoring_per_1000_objects: float = _key(PRICE, 0)


@dataclass(frozen=True)
class PriceTable:
    """``include/prices/s3.yaml`` with the configuration's ``prices:`` over it."""

    as_of: str = _key(_date)
    source: str = _key(_text)
    regions: Mapping[str, RegionPrices] = _mapping(REGION, RegionPrices)
    rules: Mapping[str, ClassRules] = _mapping(STORAGE_CLASS, ClassRules, required=False)
    currency: str = _key(_one_of("USD"), "USD")


@dataclass(frozen=True, kw_only=True)
class DatalakeConfig:
    aws_conn_id: str = _key(CONN_ID, "aws_default")
    region: str = _key(REGION, "us-east-1")
    owner: str = _key(OWNER, "data-platform")
    lake: LakeConfig = field(metadata={"section": LakeConfig})
    athena: AthenaConfig = field(metadata={"section": AthenaConfig})
    strava: StravaConfig = field(metadata={"section": StravaConfig})
    alerts: AlertsConfig = field(metadata={"section": AlertsConfig})
    reports: ReportsConfig = field(metadata={"section": ReportsConfig})
    inventories: tuple[InventoryConfig, ...] = field(default=(), metadata={"sections": InventoryConfig})
    prices: PriceTable = field(metadata={"section": PriceTable})
    source: str = ""  # the file it was read from (not a key of the file)
    prices_overridden: tuple[str, ...] = ()  # the keys of prices: that the file set (not a key either)

    def inventory(self, name: str) -> InventoryConfig:
        for inv in self.inventories:
            if inv.name == name:
                return inv
        raise ConfigError(f"no inventory configuration named {name!r} in {self.source}")

    def inventory_region(self, inv: InventoryConfig) -> str:
        """The region whose prices an inventory's storage is billed at."""
        return inv.region or self.region

    def region_prices(self, inv: InventoryConfig) -> RegionPrices | None:
        """The prices of the inventory's region; None when the table has none (its costs are unknown, and
        the report says which key to add: a missing price never stops a DAG)."""
        return self.prices.regions.get(self.inventory_region(inv))


# --- reading ------------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    """A value as the error quotes it: one line, short, in YAML's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str) and len(value) > 60:
        return repr(value[:60]) + "..."
    return repr(value) if isinstance(value, str | int | float) else str(value)


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _build(cls: type, raw: Any, path: str, problems: list[str]) -> Any:
    """``cls`` from the mapping ``raw`` at ``path``, every key checked; None when any check failed."""
    if raw is None:  # a section left empty or out (``alerts:``) takes its defaults
        raw = {}
    if not isinstance(raw, dict):
        problems.append(f"{path}: must be a mapping, got {_shown(raw)}" if path else "must hold a mapping")
        return None
    keys = {f.name: f for f in fields(cls) if f.metadata}
    for unknown in sorted(str(k) for k in raw if k not in keys):
        problems.append(f"{_join(path, unknown)}: unknown key (known here: {', '.join(keys)})")
    before = len(problems)
    values: dict[str, Any] = {}
    for name, spec in keys.items():
        where = _join(path, name)
        if "section" in spec.metadata:
            values[name] = _build(spec.metadata["section"], raw.get(name), where, problems)
        elif "sections" in spec.metadata:
            values[name] = _build_list(spec.metadata["sections"], raw.get(name), where, problems)
        elif "mapping" in spec.metadata:
            if name in raw:
                values[name] = _build_mapping(*spec.metadata["mapping"], raw[name], where, problems)
            elif spec.default_factory is MISSING:
                problems.append(f"{where}: is required")
        elif name in raw:
            try:
                values[name] = spec.metadata["rule"](raw[name])
            except _Broken as exc:
                problems.append(f"{where}{exc.at}: {exc.must}, got {_shown(exc.value)}")
        elif spec.default is MISSING:
            problems.append(f"{where}: is required")
    return cls(**values) if len(problems) == before else None


def _build_list(cls: type, raw: Any, path: str, problems: list[str]) -> tuple[Any, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{path}: must be a list of mappings, got {_shown(raw)}")
        return ()
    return tuple(_build(cls, item, f"{path}[{i}]", problems) for i, item in enumerate(raw))


def _build_mapping(
    key_rule: Rule, inner: Rule | type, raw: Any, path: str, problems: list[str]
) -> dict[str, Any]:
    """The mapping ``raw`` at ``path``: each key checked by ``key_rule``, each value built as ``inner``."""
    if not isinstance(raw, dict):
        problems.append(f"{path}: must be a mapping, got {_shown(raw)}")
        return {}
    built: dict[str, Any] = {}
    for key, item in raw.items():
        where = _join(path, key)
        try:
            key_rule(key)
        except _Broken as exc:
            problems.append(f"{where}: {exc.must.replace('must', 'the name must', 1)}, got {_shown(key)}")
            continue
        if is_dataclass(inner):
            built[key] = _build(inner, item, where, problems)  # type: ignore[arg-type]
            continue
        try:
            built[key] = inner(item)  # type: ignore[operator]
        except _Broken as exc:
            problems.append(f"{where}{exc.at}: {exc.must}, got {_shown(exc.value)}")
    return built


def _merged(shipped: Any, override: Any) -> Any:
    """``override`` laid over ``shipped``, mapping by mapping (any other value replaces)."""
    if not isinstance(shipped, dict) or not isinstance(override, dict):
        return override
    merged = dict(shipped)
    for key, value in override.items():
        merged[key] = _merged(shipped[key], value) if key in shipped else value
    return merged


def _leaf_keys(raw: Any, path: str) -> list[str]:
    """The key paths of the values in ``raw`` (``prices.regions.us-east-1.storage.STANDARD``)."""
    if not isinstance(raw, dict) or not raw:
        return [path]
    return [leaf for key, value in raw.items() for leaf in _leaf_keys(value, _join(path, key))]


def _with_prices(raw: Any) -> tuple[Any, tuple[str, ...]]:
    """The configuration with the shipped price table under ``prices:`` (the file's own ``prices:``
    over it), and the key paths the file set."""
    if not isinstance(raw, dict):
        return raw, ()
    try:
        shipped = yaml.load(PRICES_PATH.read_text(), Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"cannot read the price table {PRICES_PATH}: {' '.join(str(exc).split())}"
        ) from None
    override = raw.get("prices")
    if override is None:
        return {**raw, "prices": shipped}, ()
    return {**raw, "prices": _merged(shipped, override)}, tuple(_leaf_keys(override, "prices"))


def _cross_checks(config: DatalakeConfig) -> list[str]:
    """What no single key can say: names and tables used once, the chosen alert channel filled in."""
    problems = []
    names: dict[str, str] = {}
    tables = {(config.strava.database, config.strava.table): "strava"}
    for i, inv in enumerate(config.inventories):
        here = f"inventories[{i}]"
        if inv.name in names:
            problems.append(f"{here}.name: {inv.name!r} is {names[inv.name]}'s name too")
        table = (inv.database, inv.table)
        if table in tables:
            problems.append(f"{here}.table: {inv.database}.{inv.table} is {tables[table]}'s table too")
        names.setdefault(inv.name, here)
        tables.setdefault(table, here)
        if inv.events_queue_url and inv.partition_projection:
            problems.append(
                f"{here}.events_queue_url: partition projection registers nothing, so there is nothing for "
                "an event to start; leave events_queue_url out or set partition_projection: false"
            )
    if config.strava.streams and not config.strava.details:
        problems.append(
            "strava.streams: are fetched with the details; set strava.details: true or leave it empty"
        )
    if config.alerts.notifier == "sns" and not config.alerts.sns_topic_arn:
        problems.append("alerts.sns_topic_arn: is required with alerts.notifier: sns")
    if config.alerts.notifier == "smtp" and not config.alerts.smtp_to:
        problems.append("alerts.smtp_to: needs an address with alerts.notifier: smtp")
    summary = (config.reports.summary_database, config.reports.summary_table)
    if summary in tables:
        problems.append(f"reports.summary_table: {'.'.join(summary)} is {tables[summary]}'s table too")
    return problems


def parse_config(raw: Any, source: str = "<memory>") -> DatalakeConfig:
    """Check a parsed YAML document and turn it into a :class:`DatalakeConfig`.

    Raises one :class:`ConfigError` naming ``source`` and every problem found, each as
    ``<key path>: <rule>, got <value>``.
    """
    problems: list[str] = []
    raw, overridden = _with_prices(raw)
    config = _build(DatalakeConfig, raw, "", problems)
    if config is not None:
        problems += _cross_checks(config)
    if problems:
        count = f"{len(problems)} problems: " if len(problems) > 1 else ""
        raise ConfigError(f"{source}: {count}{'; '.join(problems)}", tuple(problems))
    return replace(config, source=source, prices_overridden=overridden)


def config_path() -> Path:
    """The configuration file in use: ``$DATALAKE_CONFIG``, else ``include/datalake.yaml``."""
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def load_config(path: str | os.PathLike[str] | None = None) -> DatalakeConfig:
    """Read the configuration from ``path``, ``$DATALAKE_CONFIG`` or ``include/datalake.yaml``."""
    chosen = Path(path) if path else config_path()
    try:
        text = chosen.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {chosen}: {exc.strerror}") from None
    try:
        raw = yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader, the C one when built
    except yaml.YAMLError as exc:
        raise ConfigError(f"{chosen} is not valid YAML: {' '.join(str(exc).split())}") from None
    return parse_config(raw, str(chosen))


# The configuration this process read, with the identity of the file it came from.
_read: tuple[tuple[object, ...], DatalakeConfig] | None = None


def _file_identity(path: Path) -> tuple[object, ...] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)


def get_config() -> DatalakeConfig:
    """The configuration, read again only when its file has changed.

    The configuration read is kept with its file's identity (path, inode, size, modification time), and
    each call compares them with one ``stat``: a long-running process (API server, triggerer) follows an
    edited file, and a parser the dag-processor forks reuses what the dag-processor read when it started
    (``datalake.parsing``) instead of reading the YAML again at every parse of every DAG file.

    A broken file is the reader's to fix, not this package's: its error is raised afresh here, so the
    traceback Airflow shows as each DAG file's import error is the DAG file's call and this line, then
    the one-line message.
    """
    global _read
    path = config_path()
    identity = _file_identity(path)
    if identity is not None and _read is not None and _read[0] == identity:
        return _read[1]
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise exc.with_traceback(None) from None
    _read = (identity, config) if identity is not None else None
    return config


def _forget() -> None:
    global _read
    _read = None


get_config.cache_clear = _forget  # type: ignore[attr-defined]  # as functools' caches spell it
