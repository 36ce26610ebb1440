"""Where an S3 Inventory configuration's reports live, and how their dates are spelled: one place.

Amazon S3 delivers each report of configuration ``<destination-prefix>/<source-bucket>/<config-id>``
(the *base prefix*) under it::

    <base>/data/<uuid>.parquet                       the data files (or .csv.gz, .orc)
    <base>/YYYY-MM-DDTHH-MMZ/manifest.json           a drop's folder ...
    <base>/YYYY-MM-DDTHH-MMZ/manifest.checksum       ... whose checksum is written last (drop complete)
    <base>/hive/dt=YYYY-MM-DD-HH-MM/symlink.txt      the drop's data files, one s3:// URI a line

The Athena table's LOCATION is ``<base>/hive/``: each ``dt=`` folder is one partition and reads exactly
the files of one drop. The hour and minute of a drop are not known in advance, so drops are found by
listing one day's folders (one LIST call, whatever the history).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

MANIFEST = "manifest.json"
CHECKSUM = "manifest.checksum"
SYMLINK = "symlink.txt"
HIVE = "hive"

# A drop's folder name and its partition value (the ``dt=`` folder name).
FOLDER = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})Z")
DT = re.compile(r"(\d{4}-\d{2}-\d{2})-(\d{2})-(\d{2})")


def check_dt(value: Any, what: str = "partition dt") -> str:
    """``value`` if it is a partition value (``YYYY-MM-DD-HH-MM``), else a ValueError naming ``what``."""
    if not isinstance(value, str) or not DT.fullmatch(value):
        raise ValueError(f"{what} must look like YYYY-MM-DD-HH-MM, got {value!r}")
    return value


def dt_of(folder: str) -> str:
    """``2026-11-02T01-00Z`` -> ``2026-11-02-01-00``."""
    match = FOLDER.fullmatch(folder)
    if not match:
        raise ValueError(f"{folder!r} is not a drop folder name (YYYY-MM-DDTHH-MMZ)")
    return "-".join(match.groups())


def folder_of(dt: str) -> str:
    """``2026-11-02-01-00`` -> ``2026-11-02T01-00Z`` (the inverse of :func:`dt_of`)."""
    day, hour, minute = DT.fullmatch(check_dt(dt)).groups()  # type: ignore[union-attr]
    return f"{day}T{hour}-{minute}Z"


def hive_prefix(base_prefix: str) -> str:
    return f"{base_prefix}/{HIVE}/"


def hive_location(bucket: str, base_prefix: str) -> str:
    """The table's LOCATION."""
    return f"s3://{bucket}/{hive_prefix(base_prefix)}"


def partition_prefix(base_prefix: str, dt: str) -> str:
    return f"{hive_prefix(base_prefix)}dt={dt}/"


def partition_location(bucket: str, base_prefix: str, dt: str) -> str:
    return f"s3://{bucket}/{partition_prefix(base_prefix, dt)}"


@dataclass(frozen=True)
class DropRef:
    """Where one drop's objects are, derived from its dated folder name."""

    bucket: str
    base_prefix: str
    folder: str  # YYYY-MM-DDTHH-MMZ

    def __post_init__(self) -> None:
        dt_of(self.folder)  # a folder that is not a drop's is refused, naming it

    @property
    def day(self) -> date:
        return date.fromisoformat(self.folder[:10])

    @property
    def dt(self) -> str:
        """The partition value: the ``dt=`` folder name of the hive layout, ``YYYY-MM-DD-HH-MM``."""
        return dt_of(self.folder)

    @property
    def manifest_key(self) -> str:
        return f"{self.base_prefix}/{self.folder}/{MANIFEST}"

    @property
    def checksum_key(self) -> str:
        return f"{self.base_prefix}/{self.folder}/{CHECKSUM}"

    @property
    def symlink_key(self) -> str:
        return partition_prefix(self.base_prefix, self.dt) + SYMLINK

    @property
    def partition_location(self) -> str:
        return partition_location(self.bucket, self.base_prefix, self.dt)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def as_dict(self) -> dict[str, str]:
        return {"bucket": self.bucket, "base_prefix": self.base_prefix, "folder": self.folder, "dt": self.dt}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DropRef:
        return cls(raw["bucket"], raw["base_prefix"], raw["folder"])


def complete_drops(s3: Any, bucket: str, base_prefix: str, day: date | None = None) -> list[DropRef]:
    """The drops (of one ``day``, or all) whose ``manifest.checksum`` is present, oldest first."""
    prefix = f"{base_prefix}/" + (f"{day.isoformat()}T" if day else "")
    found: list[DropRef] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            folder, _, name = obj["Key"][len(base_prefix) + 1 :].partition("/")
            if name == CHECKSUM and FOLDER.fullmatch(folder):
                found.append(DropRef(bucket, base_prefix, folder))
    return sorted(found, key=lambda d: d.folder)


def partitions_since(s3: Any, bucket: str, base_prefix: str, since: date) -> tuple[list[str], list[str]]:
    """``(dt values, other folder names)`` of the ``hive/dt=`` folders from ``since`` on, sorted.

    Listing starts at ``since`` (``StartAfter``), so the cost follows the window, not the history.
    """
    hive = hive_prefix(base_prefix)
    found: list[str] = []
    strays: list[str] = []
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{hive}dt=", Delimiter="/", StartAfter=f"{hive}dt={since.isoformat()}"
    )
    for page in pages:
        for common in page.get("CommonPrefixes", []):
            value = common["Prefix"][len(hive) + len("dt=") :].rstrip("/")
            (found if DT.fullmatch(value) else strays).append(value)
    return sorted(found), strays
