"""The notification sender process: ``python -m daemon.runtime.alerts_worker``.

Apprise's send is blocking Python (HTTP client, plugin code). Run in a thread of the daemon it
holds the GIL for milliseconds at a time and a decision running meanwhile waits for it (the
bench showed the decision p99 doubled); in a process of its own it costs the daemon nothing.

Protocol: one JSON object per line on stdin, one answer per line on the original stdout
(Apprise's own output, if any, goes to stderr, hence to the journal):
  {"op": "open", "urls": [...], "secrets": [...], "log_level": "WARNING"}
                                                   -> {"ok": true, "shown": [...]}
                                                     | {"ok": false, "index": i, "error": ...}
  {"op": "send", "title": ..., "body": ...}        -> {"ok": bool, "error": str | null}
The URLs arrive with their secrets already in (over the pipe, never in argv or the
environment); every log record of this process has them masked. EOF on stdin ends it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import IO, Any

MASK = "********"


def redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


class Redact(logging.Filter):
    """Masks the secrets in every record this process logs (Apprise's, urllib3's)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = redact(record.getMessage(), self.secrets)
            record.args = None
        return True


class Worker:
    def __init__(self, redact_filter: Redact) -> None:
        self.redact = redact_filter
        self.apprise: Any = None

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("op") == "open":
            logging.getLogger().setLevel(str(request.get("log_level", "WARNING")))
            return self.open(list(request["urls"]), tuple(request["secrets"]))
        if request.get("op") == "send":
            return self.send(str(request["title"]), str(request["body"]))
        return {"ok": False, "error": f"unknown op {request.get('op')!r}"}

    def open(self, urls: list[str], secrets: tuple[str, ...]) -> dict[str, Any]:
        import apprise

        self.redact.secrets = secrets
        target = apprise.Apprise()
        shown = []
        for i, url in enumerate(urls):
            before = len(target)
            if not target.add(url) or len(target) == before:
                return {"ok": False, "index": i, "error": "Apprise does not understand it"}
            server: Any = target[len(target) - 1]
            shown.append(redact(str(server.url(privacy=True)), secrets))
        self.apprise = target
        return {"ok": True, "shown": shown}

    def send(self, title: str, body: str) -> dict[str, Any]:
        if self.apprise is None:
            return {"ok": False, "error": "no URL opened"}
        try:
            ok = bool(self.apprise.notify(body=body, title=title))
        except Exception as exc:  # a plugin's failure: answered, never the end of the worker
            return {"ok": False, "error": redact(f"{type(exc).__name__}: {exc}",
                                                 self.redact.secrets)}
        return {"ok": ok, "error": None if ok else
                "the service refused it or could not be reached"}


def serve(requests: IO[str], answers: IO[str]) -> None:
    redact_filter = Redact()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(redact_filter)
    handler.setFormatter(logging.Formatter("notify worker: %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    worker = Worker(redact_filter)
    for line in requests:
        answer = worker.handle(json.loads(line))
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything printed goes to stderr, never into the answers
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
