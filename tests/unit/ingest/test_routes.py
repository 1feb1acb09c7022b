"""The ingest route table: the Segment API's routes, each once (template tests hold template.yaml to it)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from edge.ingest.models import EVENT_TYPES
from edge.ingest.routes import ROUTES, RouteKind, event_type_of

OPENAPI = Path(__file__).resolve().parents[3] / "docs" / "openapi.yaml"


def _paths(target: str | RouteKind) -> set[tuple[str, str]]:
    return {(route.method, route.path) for route in ROUTES if route.target == target}


def test_every_event_type_has_its_route_and_its_one_letter_form() -> None:
    assert {route.target for route in ROUTES if not isinstance(route.target, RouteKind)} == EVENT_TYPES
    for event_type in EVENT_TYPES:
        assert _paths(event_type) == {("POST", f"/v1/{event_type}"), ("POST", f"/v1/{event_type[0]}")}


def test_batch_telemetry_and_pixel_routes() -> None:
    assert _paths(RouteKind.BATCH) == {("POST", "/v1/batch"), ("POST", "/v1/b"), ("POST", "/v1/import")}
    assert _paths(RouteKind.TELEMETRY) == {("POST", "/v1/m")}
    assert _paths(RouteKind.PIXEL) == {("GET", "/v1/pixel/{type}")}


def test_no_route_is_listed_twice() -> None:
    assert Counter((route.method, route.path) for route in ROUTES).most_common(1)[0][1] == 1


def test_the_openapi_description_has_exactly_the_routes_of_the_table() -> None:
    """docs/openapi.yaml documents each route (preflights aside: API Gateway answers those)."""
    spec = yaml.safe_load(OPENAPI.read_text())
    items = spec["components"]["pathItems"]
    operations = set()
    for path, item in spec["paths"].items():
        methods = items[item["$ref"].rsplit("/", 1)[1]] if "$ref" in item else item
        operations |= {(method.upper(), path) for method in methods if method in ("get", "post")}
    assert operations == {(route.method, route.path) for route in ROUTES}


@pytest.mark.parametrize(
    ("segment", "event_type"),
    [("track", "track"), ("t", "track"), ("a", "alias"), ("batch", None), ("m", None), ("pixel", None)],
)
def test_a_segment_has_the_event_type_of_its_single_event_route(segment: str, event_type: str | None) -> None:
    assert event_type_of(segment) == event_type
