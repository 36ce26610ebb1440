"""Where the reports live: ``s3://<reports.bucket>/<reports.prefix>/<YYYY-MM-DD>/``.

Each day holds ``report.html`` (the page) and ``summary.json`` (the report document it was rendered
from, see ``datalake.reports.document``, with the record of the day's anomaly alerts).
Every call goes through the AWS connection (``S3Hook``), the same from a task and from the API server.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from typing import Any

from datalake.config import DatalakeConfig, get_config
from datalake.reports.queries import check_day

REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.json"
_DAY_FILE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})/([^/]+)")  # a key after the prefix, whole


class ReportStore:
    """Reads and writes the daily reports in S3; the connection is resolved on first use."""

    def __init__(self, config: DatalakeConfig | None = None) -> None:
        self.config = config or get_config()
        self.bucket = self.config.reports.bucket
        self.prefix = self.config.reports.prefix.strip("/")

    @cached_property
    def hook(self) -> Any:
        """The S3 hook of the configuration's connection, made on first use."""
        from datalake import aws

        return aws.s3_hook(self.config)

    def key(self, day: str, name: str = REPORT_FILE) -> str:
        return f"{self.prefix}/{check_day(day).isoformat()}/{name}"

    def url(self, day: str, name: str = REPORT_FILE) -> str:
        return f"s3://{self.bucket}/{self.key(day, name)}"

    def write(self, day: str, html: str, document: dict[str, Any]) -> str:
        """Store the day's summary document, then its page (the page is what readers look for)."""
        self.write_summary(day, document)
        self.hook.load_bytes(html.encode(), self.key(day), self.bucket, replace=True)
        return self.url(day)

    def write_summary(self, day: str, document: dict[str, Any]) -> None:
        """Store the day's summary document alone (the page stays as it is)."""
        self.hook.load_string(
            json.dumps(document, default=str, indent=1),
            self.key(day, SUMMARY_FILE),
            self.bucket,
            replace=True,
        )

    def _stored(self, name: str) -> set[str]:
        """The days that hold a file ``name`` (one listing of the reports prefix)."""
        client = self.hook.get_conn()
        days = set()
        start = f"{self.prefix}/"
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            for item in page.get("Contents", []):
                match = _DAY_FILE.fullmatch(item["Key"][len(start) :])
                if match and match.group(2) == name:
                    days.add(match.group(1))
        return days

    def list_days(self) -> list[str]:
        """The days that have a report, newest first."""
        return sorted(self._stored(REPORT_FILE), reverse=True)

    def read_report(self, day: str) -> str | None:
        """The page of ``day``, or None when there is none."""
        key = self.key(day)
        if not self.hook.check_for_key(key, self.bucket):
            return None
        return self.hook.read_key(key, self.bucket)

    def read_summary(self, day: str) -> dict[str, Any] | None:
        """The summary document of ``day``, or None when there is none."""
        key = self.key(day, SUMMARY_FILE)
        if not self.hook.check_for_key(key, self.bucket):
            return None
        return json.loads(self.hook.read_key(key, self.bucket))
