"""The package's configuration: one YAML file, read once per process.

``include/datalake.yaml`` holds defaults that work on the embedded stack; production points the
environment variable ``DATALAKE_CONFIG`` at its own copy. Secrets never live here, only names of
the Airflow connections that hold them.

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
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
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


def _whole(least: int, most: int, unit: str) -> Rule:
    """A whole number of ``unit`` from ``least`` to ``most``."""

    def rule(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
            raise _Broken(f"must be a whole number of {unit} from {least} to {most}", value)
        return value

    return rule


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
FORMATS = ("Parquet", "CSV", "ORC")
FREQUENCIES = ("daily", "weekly")
NOTIFIERS = ("sns", "smtp", "slack")


def _key(rule: Rule, default: Any = MISSING) -> Any:
    """A field read from the YAML key of its name, checked by ``rule`` when the file loads.

    A section of the file is ``field(metadata={"section": cls})`` instead (``"sections"``: a list of them).
    """
    return field(default=default, metadata={"rule": rule})


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
    format: str = _key(_one_of(*FORMATS), "Parquet")
    frequency: str = _key(_one_of(*FREQUENCIES), "daily")
    wait_timeout_hours: float = _key(_duration("hours", 8_760), 30)
    partition_projection: bool = _key(_flag, False)

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
class ReportsConfig:
    bucket: str = _key(_bucket)
    prefix: str = _key(_prefix, "reports")


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
    source: str = ""  # the file it was read from (not a key of the file)

    def inventory(self, name: str) -> InventoryConfig:
        for inv in self.inventories:
            if inv.name == name:
                return inv
        raise ConfigError(f"no inventory configuration named {name!r} in {self.source}")


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
    if config.alerts.notifier == "sns" and not config.alerts.sns_topic_arn:
        problems.append("alerts.sns_topic_arn: is required with alerts.notifier: sns")
    if config.alerts.notifier == "smtp" and not config.alerts.smtp_to:
        problems.append("alerts.smtp_to: needs an address with alerts.notifier: smtp")
    return problems


def parse_config(raw: Any, source: str = "<memory>") -> DatalakeConfig:
    """Check a parsed YAML document and turn it into a :class:`DatalakeConfig`.

    Raises one :class:`ConfigError` naming ``source`` and every problem found, each as
    ``<key path>: <rule>, got <value>``.
    """
    problems: list[str] = []
    config = _build(DatalakeConfig, raw, "", problems)
    if config is not None:
        problems += _cross_checks(config)
    if problems:
        count = f"{len(problems)} problems: " if len(problems) > 1 else ""
        raise ConfigError(f"{source}: {count}{'; '.join(problems)}", tuple(problems))
    return replace(config, source=source)


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
