"""Operator tools that work against a deployed stack and against the local stack alike."""

import edge_local  # noqa: F401 - puts the layer on the path: the tools read the edge's formats
