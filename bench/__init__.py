"""``make bench``: the edge measured against its floor and its peers (docs/performance.md).

Every figure is a median over repeated runs; where a budget is a ratio, both sides are measured
in the same run, alternating. A slow machine never fails the benchmark: only a benchmark that
cannot run (a handler error, a lost event) exits non-zero.
"""
