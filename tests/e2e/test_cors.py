"""CORS as API Gateway's CorsConfiguration answers it, with ALLOWED_ORIGINS (the template's
AllowedOrigins parameter) honoured: a disallowed origin gets no allowance, preflight or not.

CORS is not access control (closed mode is): a disallowed origin's request still reaches the
function, but without the allowance a browser lets the page read nothing of the answer.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import yaml

from support.local_stack import ROOT, LocalStack, start_stack, stop_stack

pytestmark = pytest.mark.e2e

ALLOWED = "https://shop.example.com"
DISALLOWED = ("https://evil.example.net", "https://shop.example.com.evil.example.net", "null")
ASKED_HEADERS = "content-type,authorization,x-retry-count"


@pytest.fixture(scope="module")
def restricted() -> Iterator[LocalStack]:
    running = start_stack({"ALLOWED_ORIGINS": f"{ALLOWED}, https://www.example.com"})
    yield running
    stop_stack(running)


def _request(
    url: str, method: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        with error:
            return error.code, {k.lower(): v for k, v in error.headers.items()}


def _preflight(stack: LocalStack, origin: str, path: str = "/v1/t") -> tuple[int, dict[str, str]]:
    return _request(
        f"{stack.api}{path}",
        "OPTIONS",
        {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": ASKED_HEADERS,
        },
    )


def _post(stack: LocalStack, origin: str, event: dict[str, object]) -> tuple[int, dict[str, str]]:
    headers = {"Origin": origin, "Content-Type": "text/plain", "Authorization": "Basic cGtfd2ViOg=="}
    return _request(f"{stack.api}/v1/t", "POST", headers, json.dumps(event).encode())


def test_an_allowed_origin_gets_the_allowance_on_preflight_and_post(restricted):
    status, headers = _preflight(restricted, ALLOWED)
    assert status == 204
    assert headers["access-control-allow-origin"] == ALLOWED
    assert "authorization" in headers["access-control-allow-headers"].split(",")
    assert headers["access-control-max-age"] == "900"
    assert "access-control-allow-credentials" not in headers
    status, headers = _post(restricted, ALLOWED, {"userId": "u-1", "event": "Allowed"})
    assert status == 200
    assert headers["access-control-allow-origin"] == ALLOWED
    assert headers["vary"] == "Origin"


def test_an_allowed_origin_gets_the_allowance_on_errors_too(restricted):
    status, headers = _post(restricted, ALLOWED, {"userId": "u-1"})  # a track without its event
    assert status == 400
    assert headers["access-control-allow-origin"] == ALLOWED


@pytest.mark.parametrize("origin", DISALLOWED)
def test_a_disallowed_origin_gets_no_allowance(restricted, origin):
    status, headers = _preflight(restricted, origin)
    assert status == 204
    assert not any(name.startswith("access-control-") for name in headers), headers
    status, headers = _post(restricted, origin, {"userId": "u-1", "event": "Not Allowed"})
    assert status == 200  # the function answered; the browser keeps the answer from the page
    assert not any(name.startswith("access-control-") for name in headers), headers


def test_the_wildcard_default_never_allows_credentials(stack):
    status, headers = _preflight(stack, "https://anywhere.example.org")
    assert (status, headers["access-control-allow-origin"]) == (204, "*")
    assert "access-control-allow-credentials" not in headers


class _CfnLoader(yaml.SafeLoader):
    """Keeps CloudFormation's short-form tags: ``!Ref X`` -> ``{"Ref": "X"}``."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, object]:
    value: object
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


def test_the_template_takes_allowed_origins_from_its_parameter():
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader
    cors = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == {"Ref": "AllowedOrigins"}
    assert cors.get("AllowCredentials") in (None, False)
    assert template["Parameters"]["AllowedOrigins"]["Type"] == "CommaDelimitedList"
