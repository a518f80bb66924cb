"""Schema-driven fuzzing (schemathesis) of every operation in the app's own OpenAPI spec.

Valid and invalid inputs generated from the spec must never get a 5xx, and every answer must match the
documented status codes, content types and response schemas. Bounded to 20 examples per operation and
mode so the whole run takes well under a minute.

schemathesis's pytest plugin (`schemathesis.pytest.from_fixture`) does not work with pytest 9, so each
operation's hypothesis strategy is driven directly.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402  (schemathesis brings hypothesis)
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CAMPAIGN = "/v1/campaigns/{campaign_id}"
WITH_INPUT = [
    ("POST", "/v1/predict"),
    ("POST", "/v1/similar"),
    ("POST", "/v1/compare"),
    ("POST", "/v1/compare/sheet"),
    ("POST", "/v1/brief"),
    ("GET", "/v1/posters/{sha256}"),
    ("POST", "/v1/campaigns"),
    ("GET", CAMPAIGN),
    ("PATCH", CAMPAIGN),
    ("DELETE", CAMPAIGN),
    ("POST", f"{CAMPAIGN}/variants"),
    ("DELETE", f"{CAMPAIGN}/variants/{{variant_id}}"),
    ("GET", f"{CAMPAIGN}/variants/{{variant_id}}/poster"),
    ("POST", f"{CAMPAIGN}/reread"),
    ("GET", f"{CAMPAIGN}/brief"),
    ("POST", "/v1/session"),
]
WITHOUT_INPUT = [
    ("GET", "/v1/genres"),
    ("GET", "/v1/model"),
    ("GET", "/v1/rules"),
    ("GET", "/v1/filters"),
    ("GET", "/healthz"),
    ("GET", "/v1/campaigns"),
    ("GET", "/v1/session"),
    ("DELETE", "/v1/session"),
]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(predictor, small_home, tmp_path_factory):
    import shutil

    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    home = tmp_path_factory.mktemp("fuzz") / "home"  # a copy: fuzzed campaigns are written to it
    shutil.copytree(small_home, home)
    # Its own app: the in-process ASGI client runs it on another event loop than the uvicorn fixture's.
    app = create_app(ServiceSettings(home=home, allowed_hosts=("*",)), predictor=predictor)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_operation_is_fuzzed(api_schema):
    operations = {(r.ok().method.upper(), r.ok().path) for r in api_schema.get_all_operations()}
    assert operations == set(WITH_INPUT + WITHOUT_INPUT)


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [(m, p, GenerationMode.POSITIVE) for m, p in WITH_INPUT + WITHOUT_INPUT]
    + [(m, p, GenerationMode.NEGATIVE) for m, p in WITH_INPUT],
)
def test_no_5xx_and_responses_match_the_spec(api_schema, method, path, mode):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case):
        case.call_and_validate(checks=CHECKS)

    fuzz()
