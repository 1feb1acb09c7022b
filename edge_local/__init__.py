"""The whole pipeline on one machine, no AWS account and no Docker (README, "The two commands").

moto in server mode stands in for SQS and Secrets Manager, an HTTP gateway turns requests into
API Gateway v2 events, a poller drives the forward handler like the SQS event source mapping,
and a stand-in records what MetaRouter would receive. The handlers run unchanged.
"""

import sys
from pathlib import Path

# The layer, for the few of its modules the stack reads itself (edge.ingest.routes: which path takes which
# event type) however it is started; the function workers run the handlers with it on their path.
_LAYER = str(Path(__file__).resolve().parents[1] / "layers" / "edge")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)
