"""What every service's API fuzz test shares: the checks an answer must pass, the hypothesis
settings, and which parameters a negative (schema-breaking) request can be built for."""
from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

# No 5xx, and every answer one the OpenAPI document describes.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


def fuzz_settings(max_examples: int, *, shrink: bool = False) -> settings:
    """Derandomized: each run sends the same requests."""
    phases = (Phase.explicit, Phase.generate, *((Phase.shrink,) if shrink else ()))
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None, print_blob=False,
                    suppress_health_check=list(HealthCheck), phases=phases)


def constrained(schema: dict[str, Any]) -> bool:
    """Whether some value of the parameter's type breaks its schema."""
    if any(k in schema for k in ("pattern", "format", "enum", "const", "minLength", "maxLength", "minimum",
                                 "maximum")) or schema.get("type") not in (None, "string", "null"):
        return True
    return any(constrained(s) for s in schema.get("anyOf", []))
