"""Operator tools that work against a deployed stack and against the local stack alike."""
