"""What the first-party e2e tests share: the path prefix the stack serves the API under."""

from __future__ import annotations

import os
import uuid

__all__ = ["PATH_PREFIX"]

#: The path the first-party stack serves the API under, as a CloudFront front door would. Not /mr:
#: nothing may depend on one prefix (E2E_PATH_PREFIX picks another).
PATH_PREFIX = os.environ.get("E2E_PATH_PREFIX") or f"/c{uuid.uuid4().hex[:6]}/edge.v1"
