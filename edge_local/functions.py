"""Lambda functions as pools of worker processes: one invocation at a time per process.

Each worker is one "execution environment": it imports the handler once (its cold start) and
then serves invocations one by one, so module state such as Powertools Metrics is never shared
between concurrent invocations, exactly as in Lambda. A worker that dies breaks its pool; the
next invocation then starts a new pool, as Lambda starts new execution environments.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
import threading
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from edge_local.context import LocalContext
from edge_local.template import ROOT

_handler: Any = None
#: Why this worker's handler could not be imported (its init failed), as one line; None if it was.
_init_error: str | None = None


class InitError(RuntimeError):
    """A function's handler failed its import (its init): the message says which and why."""


def _init_worker(module: str, env: dict[str, str], log_path: str | None) -> None:
    os.environ.update(env)
    if log_path:  # handler logs (JSON) go to a file, not the console
        log = open(log_path, "a", buffering=1)  # noqa: SIM115 - lives as long as the worker
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
    for path in (ROOT / "functions", ROOT / "layers" / "edge"):
        sys.path.insert(0, str(path))
    global _handler, _init_error  # noqa: PLW0603 - one handler per worker process
    try:
        _handler = importlib.import_module(module).lambda_handler
    except Exception as exc:  # noqa: BLE001 - kept for warm() to report: a raise here breaks the
        # pool and the parent learns only that a process "terminated abruptly"
        traceback.print_exc()  # the whole of it in the function's log
        _init_error = f"{type(exc).__name__}: {exc}"


def _ping() -> str | None:
    """None once the handler is imported, else why it is not."""
    return _init_error if _handler is None else None


def _invoke(event: dict[str, Any], name: str, timeout: float, request_id: str) -> Any:
    if _handler is None:  # as Lambda answers every invocation of a function whose init failed
        raise InitError(f"{name}: {_init_error}")
    context = LocalContext(name, timeout, aws_request_id=request_id)
    return _handler(event, context)


class LocalFunction:
    """A handler module served by ``concurrency`` worker processes."""

    def __init__(
        self,
        name: str,
        module: str,
        env: dict[str, str],
        *,
        concurrency: int,
        timeout: float,
        log: Path | None,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self._workers = concurrency
        self._initargs = (module, env, str(log) if log else None)
        self._log = log
        self._pool = self._new_pool()
        self._counter = 0
        self._lock = threading.Lock()
        self._in_flight = 0
        self._events: dict[Future[Any], dict[str, Any]] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=self._initargs,
        )

    def warm(self) -> None:
        """Start every worker now (their cold starts), not on the first request; ``InitError``
        with the first worker's reason when the handler cannot be imported."""
        futures = [self._pool.submit(_ping) for _ in range(self._workers)]
        for future in futures:
            error = future.result()
            if error is not None:
                where = f" (the traceback is in {self._log})" if self._log else ""
                raise InitError(f"the {self.name} function failed its init{where}: {error}")

    def submit(self, event: dict[str, Any]) -> Future[Any]:
        with self._lock:
            self._counter += 1
            request_id = f"{self.name}-{self._counter}"
            pool = self._pool
        try:
            future = pool.submit(_invoke, event, self.name, self.timeout, request_id)
        except BrokenProcessPool:  # a worker died: new execution environments, like Lambda
            future = self._replace(pool).submit(_invoke, event, self.name, self.timeout, request_id)
        with self._lock:
            self._in_flight += 1
            self._events[future] = event
        future.add_done_callback(self._finished)
        return future

    def _replace(self, broken: ProcessPoolExecutor) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
            return self._pool

    def _finished(self, future: Future[Any]) -> None:
        with self._lock:
            self._in_flight -= 1
            self._events.pop(future, None)

    def wait_busy(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for an invocation to be in flight; how many are."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if self._in_flight or time.monotonic() >= deadline:
                    return self._in_flight
            time.sleep(0.01)

    def kill(self) -> tuple[int, list[dict[str, Any]]]:
        """Kill every worker process now, mid-invocation (fault injection): how many were running,
        and the events of the invocations they were working on (or had queued)."""
        with self._lock:
            processes = list((self._pool._processes or {}).values())  # no public accessor
            events = list(self._events.values())
        for process in processes:
            process.kill()
        return len(processes), events

    def invoke(self, event: dict[str, Any]) -> Any:
        return self.submit(event).result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
