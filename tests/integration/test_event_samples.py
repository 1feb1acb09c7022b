"""Every sample in ``events/`` is a valid API Gateway v2 event and gets its documented answer."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

from support.apigw import EVENTS_DIR, load_event

EXPECTED = {
    "apigw-invalid-json.json": (400, "invalid_json"),
    "apigw-track-missing-identity.json": (400, "invalid_event"),
    "apigw-type-mismatch.json": (400, "type_mismatch"),
    "apigw-oversized-body.json": (413, "payload_too_large"),
    "apigw-custom-event-missing-event-name.json": (400, "invalid_metadata"),
}
SAMPLES = sorted(p.name for p in EVENTS_DIR.glob("apigw-*.json"))


def test_there_is_a_sample_for_every_route_kind():
    assert len(SAMPLES) >= 20
    paths = {load_event(name)["rawPath"] for name in SAMPLES}
    assert {
        "/v1/track",
        "/v1/batch",
        "/v1/b",
        "/v1/p",
        "/v1/m",
        "/v1/pixel/track",
        "/v1/custom/event",
    } <= paths


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_parses_as_an_api_gateway_v2_event(name):
    APIGatewayProxyEventV2Model.model_validate(load_event(name))


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_gets_its_documented_answer(ingest, aws_stack, name):
    response = ingest(load_event(name))
    status, code = EXPECTED.get(name, (200, None))
    assert response["statusCode"] == status
    if code:
        assert json.loads(response["body"])["error"]["code"] == code
    elif name.startswith("apigw-batch-one-invalid"):
        assert len(json.loads(response["body"])["rejected"]) == 1


def test_closed_mode_sample_without_a_key_is_refused(ingest, aws_stack):
    aws_stack.set_secret({"sources": {"pk_web_7f3a": "ILoveData123"}})
    assert ingest(load_event("apigw-closed-mode-missing-key.json"))["statusCode"] == 401
