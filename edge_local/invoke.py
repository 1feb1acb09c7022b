"""``python -m edge_local.invoke FUNCTION EVENT_FILE``: one invocation, like ``sam local invoke -e``.

Runs the handler in this process against the embedded AWS endpoint (the stack's queues, secret
and archive bucket, created fresh) and, for the forwarder, the upstream stand-in unless
``METAROUTER_ENDPOINT`` is set. Prints the handler's response as JSON on stdout (for the archive
function, then the keys it wrote on stderr).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
from pathlib import Path

from edge_local.aws import EmbeddedAws, edge_secret
from edge_local.clients import CREDENTIALS, client
from edge_local.context import LocalContext
from edge_local.template import ROOT, load
from edge_local.upstream import Recorder, Upstream

FUNCTIONS = {"ingest": "ingest.app", "forward": "forward.app", "archive": "archive.app"}
TIMEOUTS = {"ingest": "ingest_timeout", "forward": "forward_timeout", "archive": "archive_timeout"}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in FUNCTIONS:
        print("usage: python -m edge_local.invoke {ingest|forward|archive} EVENT_FILE", file=sys.stderr)
        return 2
    name, event_path = argv
    event = json.loads(Path(event_path).read_text())
    settings = load()
    secret = edge_secret(dict(os.environ))
    aws = EmbeddedAws()
    resources = aws.start(
        settings,
        secret,
        visibility_timeout=settings.visibility_timeout,
        archive_days=settings.archive_retention_days,
    )
    upstream = None
    endpoint = os.environ.get("METAROUTER_ENDPOINT")
    if not endpoint:
        ids = set(secret["sources"].values()) if "sources" in secret else {secret["writeKey"]}
        upstream = Upstream(0, Recorder(ids, lambda line: print(line, file=sys.stderr)))
        threading.Thread(target=upstream.serve_forever, daemon=True).start()
        endpoint = upstream.url
    environment = {
        "ingest": settings.ingest_environment,
        "forward": settings.forward_environment,
        "archive": settings.archive_environment,
    }[name]
    os.environ.update(
        {
            **CREDENTIALS,
            # What the template's Globals set (the namespace is the stack's: the local stack's here).
            "POWERTOOLS_METRICS_NAMESPACE": "MetaRouterEdge/local",
            "PYDANTIC_DISABLE_PLUGINS": "__all__",
            **environment,
            "AWS_ENDPOINT_URL": resources.endpoint,
            "EVENTS_QUEUE_URL": resources.events_queue_url,
            "QUARANTINE_QUEUE_URL": resources.quarantine_queue_url,
            "DEAD_LETTER_QUEUE_URL": resources.dead_letter_queue_url,
            "EDGE_SECRET_ID": resources.secret_id,
            "METAROUTER_ENDPOINT": endpoint,
            **({"ARCHIVE_QUEUE_URL": resources.archive_queue_url} if resources.archive_queue_url else {}),
            **({"ARCHIVE_BUCKET_NAME": resources.archive_bucket} if resources.archive_bucket else {}),
        }
    )
    sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "layers" / "edge")]
    handler = importlib.import_module(FUNCTIONS[name]).lambda_handler
    response = handler(event, LocalContext(name, getattr(settings, TIMEOUTS[name])))
    print(json.dumps(response, indent=2))
    if name == "archive" and resources.archive_bucket:
        listed = client("s3", resources.endpoint).list_objects_v2(Bucket=resources.archive_bucket)
        for item in listed.get("Contents", []):
            print(f"wrote s3://{resources.archive_bucket}/{item['Key']}", file=sys.stderr)
    if upstream:
        upstream.shutdown()
    aws.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
