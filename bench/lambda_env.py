"""What a Lambda execution environment looks like to the handlers, without AWS.

The handlers read their configuration from the environment at import time, as in Lambda;
nothing here reaches the network (clients are built, never called, or are fakes).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Final

__all__ = ["FUNCTIONS", "ROOT", "Tree", "lambda_environment"]

ROOT: Final = Path(__file__).resolve().parents[1]
REGION: Final = "us-east-1"
QUEUE: Final = f"https://sqs.{REGION}.amazonaws.com/123456789012"
FUNCTIONS: Final = ("ingest", "forward")

_COMMON: Final = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    # Lambda hands every function temporary credentials; these are never used to sign anything.
    "AWS_ACCESS_KEY_ID": "ASIABENCHMARK",
    "AWS_SECRET_ACCESS_KEY": "benchmark",
    "AWS_SESSION_TOKEN": "benchmark",
    # No developer profile or config file may change what a client does or costs.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
    "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
    "POWERTOOLS_METRICS_NAMESPACE": "MetaRouterEdge",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "PYDANTIC_DISABLE_PLUGINS": "__all__",
    "EDGE_SECRET_ID": f"arn:aws:secretsmanager:{REGION}:123456789012:secret:edge-bench",
    "SECRET_MAX_AGE_SECONDS": "300",
    "LANG": "C.UTF-8",
}
_FUNCTION: Final = {
    "ingest": {
        "AWS_LAMBDA_FUNCTION_NAME": "edge-ingest",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "POWERTOOLS_SERVICE_NAME": "edge-ingest",
        "EVENTS_QUEUE_URL": f"{QUEUE}/edge-events",
        "QUARANTINE_QUEUE_URL": f"{QUEUE}/edge-quarantine",
        "IP_POLICY": "keep",
        "SQS_MAX_MESSAGE_BYTES": "262144",
    },
    "forward": {
        "AWS_LAMBDA_FUNCTION_NAME": "edge-forward",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "POWERTOOLS_SERVICE_NAME": "edge-forward",
        "DEAD_LETTER_QUEUE_URL": f"{QUEUE}/edge-dead-letters",
        "METAROUTER_ENDPOINT": "https://e.metarouter.io",
        "FORWARD_MODE": "batch",
    },
}


def lambda_environment(function: str) -> dict[str, str]:
    """The variables Lambda and the template give ``function`` (``ingest`` or ``forward``)."""
    return {**_COMMON, **_FUNCTION[function]}


class Tree:
    """A checkout of the project whose handlers are measured (this one unless ``--root``)."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root.resolve()
        self.layer = self.root / "layers" / "edge"
        self.functions = self.root / "functions"

    def task_root(self, function: str) -> Path:
        """The function's code directory: Lambda's task root, where ``app.py`` is."""
        return self.functions / function

    def importable(self) -> None:
        """Make ``edge``, ``ingest.app`` and ``forward.app`` importable in this process."""
        for path in (self.functions, self.layer):
            if str(path) not in sys.path:
                sys.path.insert(0, str(path))

    def load_handler(self, function: str, env: Mapping[str, str], name: str) -> ModuleType:
        """A fresh copy of ``function``'s ``app`` module, its init run with ``env`` in the environment,
        as Lambda loads it: each copy (``name``) has its own clients, pool and caches."""
        self.importable()
        os.environ.update(env)
        spec = importlib.util.spec_from_file_location(name, self.task_root(function) / "app.py")
        if spec is None or spec.loader is None:
            raise ImportError(f"no handler module for {function}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
