"""How the local Athena fails: a query that ends FAILED, an API call refused with HTTP 400."""

from __future__ import annotations


class QueryFailed(Exception):
    """A query that ends in FAILED; ``str()`` is its StateChangeReason (``ERROR_CODE: message``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class BadRequest(Exception):
    """An API call Athena rejects with HTTP 400."""


def line_col(sql: str, offset: int | None) -> str:
    """Trino's ``line L:C`` for a character offset of the statement."""
    if offset is None:
        return "line 1:1"
    before = sql[:offset]
    return f"line {before.count(chr(10)) + 1}:{offset - (before.rfind(chr(10)) + 1) + 1}"
