"""The Lambda context, as the local runner, the benchmarks and the tests hand it to a handler."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["LocalContext"]


@dataclass
class LocalContext:
    """The parts of the Lambda context the handlers and Powertools read.

    The time left counts down from ``timeout`` seconds, from the moment the context is made, as
    Lambda's does from the start of an invocation: make one per invocation.
    """

    function_name: str
    timeout: float
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = "local"
    log_group_name: str = "local"
    log_stream_name: str = "local"
    deadline: float = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.timeout

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))
