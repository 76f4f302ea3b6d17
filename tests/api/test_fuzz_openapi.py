"""Fuzzing every operation of the app's own /openapi.json with schemathesis: generated
requests, with a token of each role, must never get a 5xx, and every answer must match
the documented status codes and schemas. A bounded number of examples per operation
keeps it short enough for CI (``FUZZ_EXAMPLES`` raises it for a longer run)."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.factories import consenting_donor, load_program

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
ROLES = ("donor", "support", "admin")
# Rules beyond the schema (a Stripe account id's shape, a campaign's caps) answer a
# documented 422 to schema-valid data, so "schema-valid means accepted" does not hold.
EXCLUDED = [schemathesis.checks.positive_data_acceptance]


@pytest.mark.fuzz
def test_every_operation_never_fails_and_matches_its_documentation(app, runtime, auth) -> None:
    load_program(runtime)
    consenting_donor(runtime, "fuzz-donor")
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    tokens = {
        role: auth("fuzz-donor" if role == "donor" else f"fuzz-{role}", role) for role in ROLES
    }
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 50  # every operation of the API, not a few

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,  # the same examples on every run: a CI failure reproduces
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case) -> None:  # type: ignore[no-untyped-def]
            for role in ROLES:  # each generated request, with a token of each role
                # identity: the WSGI transport does not undo gzip as an HTTP client does
                headers = {**tokens[role], "Accept-Encoding": "identity"}
                case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as failure:
            first = str(failure).strip().splitlines()[:6]
            failures.append(f"{operation.method.upper()} {operation.path}: " + " | ".join(first))
    assert failures == [], "\n".join(failures)
