"""``make tail STACK=…``: a deployed stack's outcomes, live, one compact line each.

The functions log one outcome line per ingest request (``request outcome``: events accepted,
rejected and why, dropped by a privacy control and why, what the consent control did) and one
per forwarder invocation (``messages forwarded``): codes and counts, never an event or a key.
CloudWatch Logs Live Tail streams exactly those lines from the two functions' log groups, which
are found among the stack's resources. A session ends after three hours; a new one starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import IO, Any, Final

import boto3

__all__ = ["FILTER_PATTERN", "LOG_GROUPS", "format_line", "log_group_arns", "main", "tail"]

#: The template's log groups of the two functions (logical ids).
LOG_GROUPS: Final = ("IngestLogGroup", "ForwardLogGroup")
REQUEST_OUTCOME: Final = "request outcome"  # edge.ingest.outcomes.REQUEST_OUTCOME
FORWARD_OUTCOME: Final = "messages forwarded"
FILTER_PATTERN: Final = f'{{ ($.message = "{REQUEST_OUTCOME}") || ($.message = "{FORWARD_OUTCOME}") }}'


def log_group_arns(cloudformation: Any, logs: Any, stack: str) -> list[str]:
    """The ARNs of the stack's function log groups (Live Tail takes ARNs, without ``:*``)."""
    arns = []
    for logical_id in LOG_GROUPS:
        resource = cloudformation.describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)
        name = resource["StackResourceDetail"]["PhysicalResourceId"]
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        matches = [g for g in groups if g["logGroupName"] == name]
        if not matches:
            raise SystemExit(f"log group {name} of stack {stack} does not exist")
        group = matches[0]
        arns.append(group.get("logGroupArn") or group["arn"].removesuffix(":*"))
    return arns


def format_line(message: str, timestamp_ms: int | None = None) -> str | None:
    """One terminal line for an outcome log line; None for anything else."""
    try:
        line = json.loads(message)
    except ValueError:
        return None
    if not isinstance(line, dict):
        return None
    when = _clock(timestamp_ms)
    if line.get("message") == REQUEST_OUTCOME:
        text = (
            f"{when} ingest  {line.get('status', '?')} {line.get('route', '?'):<22}"
            f" accepted {line.get('accepted', 0)}"
        )
        if line.get("rejected") or line.get("reasons"):
            text += f"  rejected {line.get('rejected', 0)}{_counts(line.get('reasons'))}"
        filtered = line.get("filtered")
        if isinstance(filtered, Mapping) and filtered:
            text += f"  dropped {sum(_number(v) for v in filtered.values())}{_counts(filtered)}"
        if isinstance(line.get("consent"), Mapping) and line["consent"]:
            text += "  consent" + _counts(line["consent"])
        return text
    if line.get("message") == FORWARD_OUTCOME:
        text = (
            f"{when} forward {line.get('messages', 0)} messages  forwarded {line.get('events_forwarded', 0)}"
        )
        if line.get("custom_events_forwarded"):
            text += f" (custom {line['custom_events_forwarded']})"
        if line.get("dead_lettered"):
            text += f"  dead-lettered {line['dead_lettered']}{_counts(line.get('dead_letter_reasons'))}"
        if line.get("failed_messages"):
            text += f"  left for redelivery {line['failed_messages']} messages"
        if line.get("retries"):
            text += f"  retries {line['retries']}"
        statuses = line.get("upstream_statuses")
        if isinstance(statuses, Mapping) and statuses:
            text += "  upstream " + " ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))
        return text
    return None


def tail(logs: Any, arns: list[str], out: IO[str]) -> None:
    """Stream the outcome lines of ``arns`` to ``out`` until interrupted."""
    while True:
        response = logs.start_live_tail(logGroupIdentifiers=arns, logEventFilterPattern=FILTER_PATTERN)
        if not _print_session(response["responseStream"], out):
            return


def _print_session(stream: Iterable[Mapping[str, Any]], out: IO[str]) -> bool:
    """Print one session's lines; whether it timed out (and another should start)."""
    for event in stream:
        if "sessionUpdate" in event:
            for result in event["sessionUpdate"].get("sessionResults", []):
                text = format_line(result.get("message", ""), result.get("timestamp"))
                if text is not None:
                    out.write(text + "\n")
                    out.flush()
        elif "SessionTimeoutException" in event:
            return True
        elif "SessionStreamingException" in event:
            raise SystemExit(f"live tail failed: {event['SessionStreamingException'].get('message')}")
    return False


def _clock(timestamp_ms: int | None) -> str:
    if timestamp_ms is None:
        return "--:--:--"
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%H:%M:%S")


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _counts(counts: Any) -> str:
    if not isinstance(counts, Mapping) or not counts:
        return ""
    return " (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_ops.tail", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="the deployed stack's name")
    args = parser.parse_args(argv)
    logs = boto3.client("logs")
    arns = log_group_arns(boto3.client("cloudformation"), logs, args.stack)
    print(
        f"tailing {', '.join(a.rsplit(':', 1)[-1] for a in arns)} (times UTC; Ctrl-C stops)", file=sys.stderr
    )
    try:
        tail(logs, arns, sys.stdout)
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
