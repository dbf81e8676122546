"""schemathesis against the real edge, from the OpenAPI document the edge serves.

Every operation gets positive cases (what the document allows) and negative
ones (what it forbids), sent through Envoy to the real user and order
services over mTLS. Each call carries an owner's token (the subject is the
user the request names), an admin's, or none. A reply must:

- not be a 5xx other than 503 (documented: no healthy upstream);
- hold no stack trace, source path or exception class;
- conform to the document: a documented status, a JSON body, the body's schema.

Not checked, on purpose: `unsupported_method` (Envoy answers an unknown
method with 404, not 405), `negative_data_rejection` (proto3 JSON is lenient
by design: "1" is a fine int32) and `positive_data_acceptance` (a valid-looking
id that names nothing is a 404).
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.budget import Findings, fuzz_settings, share, total_cases
from tests.fuzz.leaks import leaks
from tests.support.envoy import Envoy

pytestmark = [pytest.mark.integration, pytest.mark.fuzz]

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
DOCUMENTED_5XX = {503}
OWNER_FIELDS = ("user_id", "customer_id")
TOKENS = ("owner", "admin", "anonymous")
MODES = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
CALL_TIMEOUT = 15.0
PATH_VARIABLE = re.compile(r"\{([^}]+)\}")
Case = schemathesis.Case[Any]


class Caller:
    """The edge, a session to it, and tokens for whoever a case should be."""

    def __init__(self, edge: Envoy) -> None:
        self.edge = edge
        self.base_url = f"http://{edge.address}"
        self.session = requests.Session()
        self._tokens: dict[tuple[str, bool], str] = {}

    def token(self, subject: str, *, admin: bool = False) -> str:
        key = (subject, admin)
        if key not in self._tokens:
            claims = {"roles": ["admin"]} if admin else None
            self._tokens[key] = self.edge.token(subject, claims=claims)
        return self._tokens[key]

    def headers(self, case: Case, who: str) -> dict[str, str]:
        if who == "anonymous":
            return {}
        owner = _owner_of(case)
        if who == "owner" and owner is not None and _issuable(owner):
            return {"authorization": f"Bearer {self.token(owner)}"}
        # admins get a subject each, as people would: per-end-user limits stay per person
        return {"authorization": f"Bearer {self.token(str(uuid.uuid4()), admin=True)}"}


def _issuable(subject: str) -> bool:
    """Whether an issuer would put `subject` in a token: no control characters.

    The edge forwards the subject as the `x-jwt-sub` header, and Envoy refuses
    a header value with one (503: the issuer, which the edge trusts, is wrong).
    """
    return not any(unicodedata.category(c) == "Cc" for c in subject)


def _owner_of(case: Case) -> str | None:
    """The user the request names (its path, query or body), whom an owner token is for."""
    for place in (case.path_parameters, case.query, case.body):
        if isinstance(place, dict):
            for name in OWNER_FIELDS:
                if isinstance(place.get(name), str) and place[name]:
                    return str(place[name])
    return None


def check_case(caller: Caller, case: Case, who: str, tally: Findings) -> None:
    label = case.operation.label
    try:
        response = case.call(
            base_url=caller.base_url,
            session=caller.session,
            headers=caller.headers(case, who),
            timeout=CALL_TIMEOUT,
        )
    except requests.RequestException as error:  # the edge dropped the connection
        tally.record("no reply")
        tally.add(f"no reply from {label}", f"{type(error).__name__}: {error}")
        return
    status = response.status_code
    tally.record(str(status))
    sent = json.dumps([case.path_parameters, case.query, case.body], default=str)
    reply = f"{status} {response.text[:600]}"
    example = f"{reply}\n    <- {case.as_curl_command(base_url=caller.base_url)}"
    if status >= 500 and status not in DOCUMENTED_5XX:
        tally.add(f"{status} from {label}", example)
    elif status >= 500:
        tally.note(f"{status} from {label}", example)
    if found := leaks(response.text, sent):
        tally.add(f"leak {found[0]!r} from {label}", example)
    try:
        case.validate_response(response, checks=CHECKS)
    except FailureGroup as group:
        for failure in group.exceptions:
            tally.add(f"{failure.title} on {label} ({status})", f"{example}\n    {failure}")
    except Failure as failure:
        tally.add(f"{failure.title} on {label} ({status})", f"{example}\n    {failure}")


def fuzz_operation(
    caller: Caller,
    operation: Any,
    mode: schemathesis.GenerationMode,
    cases: int,
    tally: Findings,
    *,
    known: dict[str, str],
) -> None:
    """`known` ids (a real user, their order) fill the path half the time, so
    replies other than 404 get checked too."""
    strategy = operation.as_strategy(generation_mode=mode)
    fixed = {name: known[name] for name in PATH_VARIABLE.findall(operation.path) if name in known}
    if fixed:
        strategy |= operation.as_strategy(generation_mode=mode, path_parameters=fixed)

    @fuzz_settings(cases)
    @given(strategy, st.sampled_from(TOKENS))
    def fuzz(case: Case, who: str) -> None:
        check_case(caller, case, who, tally)

    try:
        fuzz()
    except Unsatisfiable:  # nothing the document forbids fits this operation (no parameters)
        tally.record(f"no {mode.value} cases for {operation.label}")


def known_ids(edge: Envoy) -> dict[str, str]:
    """A real user and an order of theirs, made through the edge."""
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    created = edge.request("POST", "/v1/users", {"email": email, "display_name": "Fuzz"})
    assert created.status == 200, created.body
    user_id: str = created.json()["user"]["user_id"]
    item = {
        "sku": "LAMP",
        "quantity": 1,
        "unit_price": {"currency_code": "EUR", "amount_minor": "1"},
    }
    mine = {"authorization": f"Bearer {edge.token(user_id)}"}
    placed = edge.request("POST", "/v1/orders", {"customer_id": user_id, "items": [item]}, mine)
    assert placed.status == 200, placed.body
    order_id: str = placed.json()["order"]["order_id"]
    return {"user_id": user_id, "customer_id": user_id, "order_id": order_id}


def _operation(result: Any) -> Any:
    """The operation, or the document's error in loading it (a generator bug)."""
    if isinstance(result, Err):
        raise AssertionError(f"the document has an operation schemathesis cannot read: {result}")
    return result.ok()


def test_the_edge_answers_generated_requests_as_its_document_says(
    fuzzed_edge: Envoy, findings: Findings
) -> None:
    document = fuzzed_edge.request("GET", "/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [_operation(result) for result in schema.get_all_operations()]
    assert operations, "the document describes no operation"
    cases = share(total_cases(), len(operations) * len(MODES))
    caller = Caller(fuzzed_edge)
    known = known_ids(fuzzed_edge)
    for operation in operations:
        for mode in MODES:
            fuzz_operation(caller, operation, mode, cases, findings, known=known)
    assert not findings.found, findings.report()


# Found by this fuzzer: legal HTTP header names that gRPC metadata cannot carry
# made the service's gRPC server refuse the call, and the client got
# 500 "Illegal header key". The edge's transport-header check
# (gateway/transport_headers.py) refuses them with a clear 400 instead.
@pytest.mark.parametrize("name", ["x-a&b", "*", "b|6#v_~", "dLn3vZ!Lnf~n!+1qI+M%"])
def test_a_header_name_grpc_cannot_carry_is_refused_clearly(fuzzed_edge: Envoy, name: str) -> None:
    refused = fuzzed_edge.request("GET", f"/v1/users/{uuid.uuid4()}", headers={name: "anything"})
    assert refused.status == 400, refused.body
    assert refused.json()["code"] == 3  # INVALID_ARGUMENT, in the edge's error shape
    assert "gRPC metadata cannot carry" in refused.json()["message"]


def test_the_checks_catch_a_document_that_disagrees_with_the_edge(fuzzed_edge: Envoy) -> None:
    """The fuzzer can fail: a reply the document does not describe is a finding."""
    document = fuzzed_edge.request("GET", "/openapi.json").json()
    operation = document["paths"]["/v1/users/{user_id}"]["get"]
    del operation["responses"]["404"]  # the edge answers a missing user with it
    reply = operation["responses"]["200"]["content"]["application/json"]["schema"]
    operation["responses"]["200"]["content"]["application/json"]["schema"] = {
        "allOf": [reply, {"required": ["no_such_field"]}]
    }
    email = f"{uuid.uuid4().hex[:12]}@example.com"
    created = fuzzed_edge.request("POST", "/v1/users", {"email": email, "display_name": "Fz"})
    assert created.status == 200, created.body
    user_id = created.json()["user"]["user_id"]
    found = schemathesis.openapi.from_dict(document)["/v1/users/{user_id}"]["GET"]
    tally = Findings("self-test")
    caller = Caller(fuzzed_edge)
    for ident in (user_id, str(uuid.uuid4())):
        check_case(caller, found.Case(path_parameters={"user_id": ident}), "anonymous", tally)
    assert tally.outcomes == {"200": 1, "404": 1}
    kinds = " ".join(tally.found)
    assert "Undocumented status code" in kinds, tally.report()
    assert "Response violates schema" in kinds, tally.report()
