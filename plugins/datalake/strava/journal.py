"""The token journal: what a refresh is doing, written ahead of it, so that no answer of Strava is lost.

Strava invalidates a refresh token the moment it answers with a new one, so the answer must be durable
before anything can stop the task (a timeout, SIGKILL, the OOM killer, a store that fails to write). One
Airflow Variable per Strava connection, ``datalake_strava_token_journal__<conn_id>``, holds at most one
entry:

- ``refreshing``: written before the refresh token is sent: who refreshes, until when. Another refresh
  (a second run, or a 401 in the middle of an extraction) waits for it instead of presenting the same
  refresh token, which Strava would refuse once this one has rotated it.
- ``answered``: Strava's answer, written before the store write. When the writer stops before the store
  holds it, the next refresh of the connection (the next try of the token task, usually) writes it there.

The entry is removed once the store holds the answer. It lives in Airflow's metadata DB, encrypted with
the Fernet key like every Variable; the key's word "token" makes Airflow mask its value in the UI, the
REST API and the logs. Its value never goes to XCom. Variables are written through the Task SDK in a task,
and through the metadata DB in a server process (the API server runs the connection's Test button).

Variables offer no compare-and-set: two refreshes that start at the same instant both write
``refreshing``; Strava then refuses one of them, and that one takes the other's answer (see
:mod:`datalake.strava.tokens`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

log = logging.getLogger(__name__)

KEY_PREFIX = "datalake_strava_token_journal__"
REFRESHING = "refreshing"
ANSWERED = "answered"
DESCRIPTION = "Strava tokens a refresh received but has not written yet (datalake.strava.journal)"


class JournalError(Exception):
    """The journal could not be read or written (the message holds no secret)."""


def fingerprint(refresh_token: str) -> str:
    """A short one-way digest of a refresh token: which token an entry follows, without keeping it."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:16]


def _this_writer() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


@dataclass(frozen=True)
class JournalEntry:
    id: str
    state: str
    replaces: str  # fingerprint of the refresh token sent to Strava
    writer: str  # host:pid:thread of the refresh
    until: float  # epoch seconds: the writer's deadline; it writes nothing after it
    tokens: Mapping[str, Any] | None = None  # Strava's answer (``answered`` only)

    def __repr__(self) -> str:  # never the tokens
        return f"JournalEntry({self.state}, writer={self.writer}, until={self.until:.0f})"

    __str__ = __repr__

    def writer_alive(self) -> bool:
        """False when the writer is known to be gone: a process of this host that no longer exists,
        or an earlier refresh of this very thread. A writer on another host counts as alive."""
        host, _, rest = self.writer.partition(":")
        pid_text, _, thread_text = rest.partition(":")
        if host != socket.gethostname() or not (pid_text.isdigit() and thread_text.isdigit()):
            return True  # cannot tell: alive until its deadline
        pid, thread = int(pid_text), int(thread_text)
        if pid != os.getpid():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        if thread == threading.get_ident():
            return False
        return any(t.ident == thread for t in threading.enumerate())

    def in_flight(self, now: float) -> bool:
        """The writer may still be refreshing or writing: wait for it."""
        return now < self.until and self.writer_alive()

    def as_json(self) -> str:
        doc = {
            "id": self.id,
            "state": self.state,
            "replaces": self.replaces,
            "writer": self.writer,
            "until": self.until,
        }
        if self.tokens is not None:
            doc["tokens"] = dict(self.tokens)
        return json.dumps(doc)

    @classmethod
    def from_json(cls, raw: str) -> JournalEntry:
        doc = json.loads(raw)
        tokens = doc.get("tokens")
        if doc["state"] not in (REFRESHING, ANSWERED) or (
            tokens is not None and not isinstance(tokens, dict)
        ):
            raise ValueError("not a journal entry")
        return cls(
            id=str(doc["id"]),
            state=doc["state"],
            replaces=str(doc["replaces"]),
            writer=str(doc["writer"]),
            until=float(doc["until"]),
            tokens=tokens,
        )


class _TaskVariables:
    """Variables through the Task SDK (the task's supervisor and the execution API)."""

    def get(self, key: str) -> str | None:
        from airflow.sdk import Variable

        return Variable.get(key, default=None)

    def set(self, key: str, value: str) -> None:
        from airflow.sdk import Variable

        Variable.set(key, value, description=DESCRIPTION)

    def delete(self, key: str) -> None:
        from airflow.sdk import Variable

        Variable.delete(key)


class _MetadataDbVariables:
    """Variables in the metadata DB, for server processes, which have no Task SDK supervisor."""

    def get(self, key: str) -> str | None:
        from airflow.models.variable import Variable

        return Variable.get(key, default_var=None)

    def set(self, key: str, value: str) -> None:
        from airflow.models.variable import Variable

        Variable.set(key, value, description=DESCRIPTION)

    def delete(self, key: str) -> None:
        from airflow.models.variable import Variable

        Variable.delete(key)


def _variables() -> Any:
    from airflow.sdk.execution_time import task_runner

    if getattr(task_runner, "SUPERVISOR_COMMS", None) is not None:
        return _TaskVariables()
    return _MetadataDbVariables()


class TokenJournal:
    """The journal of one Strava connection (see the module docstring)."""

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        self.key = f"{KEY_PREFIX}{conn_id}"
        self.where = f"the Airflow Variable {self.key!r}"
        # Real time, whatever clock the caller judges token lifetimes by: other processes share it.
        self.clock: Callable[[], float] = time.time
        self.sleep: Callable[[float], None] = time.sleep
        self._variables: Any = None

    def _store(self) -> Any:
        if self._variables is None:
            self._variables = _variables()
        return self._variables

    def read(self) -> JournalEntry | None:
        try:
            raw = self._store().get(self.key)
        except Exception as exc:
            raise JournalError(f"cannot read {self.where} ({type(exc).__name__})") from None
        if raw in (None, ""):
            return None
        try:
            return JournalEntry.from_json(raw)
        except (ValueError, KeyError, TypeError):
            log.warning("%s holds no journal entry (edited by hand?); ignoring it", self.where)
            return None

    def _write(self, entry: JournalEntry) -> JournalEntry:
        try:
            self._store().set(self.key, entry.as_json())
        except Exception as exc:
            raise JournalError(f"cannot write {self.where} ({type(exc).__name__})") from None
        return entry

    def begin(self, refresh_token: str, until: float) -> JournalEntry:
        """Record that this thread is about to send ``refresh_token``, and is done by ``until``."""
        entry = JournalEntry(
            id=secrets.token_hex(6),
            state=REFRESHING,
            replaces=fingerprint(refresh_token),
            writer=_this_writer(),
            until=until,
        )
        return self._write(entry)

    def answered(self, entry: JournalEntry, tokens: Mapping[str, Any]) -> JournalEntry:
        """Record Strava's answer to the refresh ``entry`` began."""
        return self._write(replace(entry, state=ANSWERED, tokens=dict(tokens)))

    def clear(self, entry: JournalEntry) -> None:
        """Remove ``entry`` if it is still the one recorded. Never raises: a leftover entry is harmless,
        the next refresh recovers or discards it."""
        try:
            current = self.read()
            if current is not None and current.id == entry.id:
                self._store().delete(self.key)
        except Exception as exc:
            log.warning(
                "Could not clear %s (%s); the next refresh settles it", self.where, type(exc).__name__
            )
