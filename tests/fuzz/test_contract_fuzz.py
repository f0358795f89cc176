"""Contract fuzzing: schemathesis generates requests for every operation of the committed
contract, valid and invalid, and sends them to a real `puls api` process, with an admin key and a
read-only key. No 5xx, every status documented, every documented header sent, every body
matching its schema, invalid requests refused."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from services.cli.main import ROOT
from services.core.config import Settings
from tests.api_process import running_api
from tests.harness import ADMIN_TOKEN

# The cases build on one another's data, as a client's calls do, and the read-only key made at
# the module's start must outlive them: a reset after each case would delete it (every later
# read-only case would meet a 401) and cost a quarter of the fuzzing's time.
pytestmark = pytest.mark.shared_state

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Its cases share their test's id: pytest-xdist would run one per test and pass.
    pytest.skip("run tests/fuzz without -n (make test does)", allow_module_level=True)

schema = schemathesis.openapi.from_path(ROOT / "openapi" / "openapi.json")


def _shard_of(spec: str | None) -> set[str] | None:
    """The operations of shard `i/n` (`PULS_FUZZ_SHARD`): every n-th of the contract's, in its
    order, from the i-th. The schema is narrowed before the tests are made: schemathesis
    builds each operation's coverage cases as pytest collects them, and a shard chosen after
    collection built the other shard's too (collecting all 302 cases takes 20 s, a shard's
    12–15 s)."""
    if not spec:
        return None
    index, count = (int(part) for part in spec.split("/"))
    labels = [
        f"{method.upper()} {path}"
        for path, item in schema.raw_schema["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    ]
    return {label for position, label in enumerate(labels) if position % count == index}


SHARD = _shard_of(os.environ.get("PULS_FUZZ_SHARD"))
if SHARD is not None:
    shard = SHARD
    schema = cast(Any, schema.include(lambda ctx: ctx.operation.label in shard))
# Data that fits the contract and data that does not: every check below runs on both. The
# checks are all of schemathesis's but `positive_data_acceptance` (see EXCLUDED): no 5xx, every
# status documented (429, 500 and 503 included), the documented headers present (`X-Request-ID`,
# `ETag`, `Location`, `Retry-After`), the content type and body matching the response schema,
# and a request the contract refuses (a number for a date, a missing field, a misspelt one)
# answered 4xx (`negative_data_rejection`).
assert set(schema.config.generation.modes) == {GenerationMode.POSITIVE, GenerationMode.NEGATIVE}
# NDJSON uploads are text on the wire, as the generated string is.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
EXAMPLES_PER_OPERATION = int(os.environ.get("PULS_FUZZ_EXAMPLES", "12"))


@dataclass(frozen=True)
class Server:
    url: str
    read_token: str


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[Server]:
    with running_api(settings) as url:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        created = httpx.post(
            f"{url}/v1/api-keys", headers=admin, json={"name": "fuzz reader", "scopes": ["read"]}
        )
        assert created.status_code == 201, created.text
        yield Server(url=url, read_token=created.json()["token"])


# Business rules the schema cannot express (a cursor this service issued, an org unit that exists,
# a date in the future) reject some schema-valid requests with a documented 422 by design.
EXCLUDED: list[Any] = [positive_data_acceptance]


def excluded(case: Any, response: Any) -> list[Any]:
    if response.status_code < 300 and response.headers.get("warning", "").startswith("299 "):
        # Deprecated input this version still takes and says so (money as a whole number,
        # `Warning: 299`, CHANGELOG.md): the contract already refuses it, the next version will.
        return [*EXCLUDED, negative_data_rejection]
    if case.method.upper() == "POST" and case.path == "/v1/imports":
        # An upload is any bytes: what the schema generator calls a body of the wrong type
        # (`{}` sent as text/csv) is one more file. The import refuses a file it cannot read
        # (status `failed`, with the line), not the upload.
        return [*EXCLUDED, negative_data_rejection]
    if case.method.upper() == "POST" and case.path.endswith(":batch"):
        # A batch is answered per record: the good ones are stored and each bad one reported
        # by its index (200, `rejected`), unless `atomic=true` (422). Invalid records inside a
        # well-formed batch are therefore accepted by design; a malformed batch is still 422.
        return [*EXCLUDED, negative_data_rejection]
    return EXCLUDED


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


# The read-only cases run first: the admin's cases may revoke the read-only key (`DELETE
# /v1/api-keys/{key_id}` with a small id) and change what the reads find.
@schema.parametrize()
@FUZZ_SETTINGS
def test_read_only_key(case: Any, server: Server) -> None:
    headers = {"Authorization": f"Bearer {server.read_token}"}
    response = case.call(base_url=server.url, headers=headers)
    case.validate_response(response, headers=headers, excluded_checks=excluded(case, response))
    if "authorization" not in response.request.headers:
        return  # a negative case without the key, on purpose: 401, checked above
    # The key is valid throughout: a 401 here would mean the cases never reached past sign-in.
    assert response.status_code != 401, response.text
    if case.method.upper() != "GET" and case.path.startswith("/v1/"):
        # Writes need more than `read`: a 403, or an earlier 4xx for a malformed request.
        assert response.status_code in (400, 403, 404, 405, 413, 415, 422), response.text


@schema.parametrize()
@FUZZ_SETTINGS
def test_admin_key(case: Any, server: Server) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    response = case.call(base_url=server.url, headers=headers)
    case.validate_response(response, headers=headers, excluded_checks=excluded(case, response))
