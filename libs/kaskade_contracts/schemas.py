"""Export the JSON Schema of every public event and intake command.

`python -m kaskade_contracts.schemas` rewrites them; `--check` fails when a committed schema no
longer matches the code, so a contract never changes by accident.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from kaskade_contracts.envelope import envelope_model
from kaskade_contracts.events import INTAKE_COMMANDS, PUBLIC_EVENTS

SCHEMA_DIR = Path(__file__).parent / "schemas"


def render() -> dict[str, str]:
    out: dict[str, str] = {}
    for model in (*PUBLIC_EVENTS, *INTAKE_COMMANDS):
        schema = envelope_model(model).model_json_schema()
        schema["title"] = f"{model.event_type} v{model.schema_version}"
        schema["description"] = (model.__doc__ or "").strip()
        schema["x-kaskade-topic"] = model.topic
        schema["x-kaskade-event-type"] = model.event_type
        schema["x-kaskade-schema-version"] = model.schema_version
        out[f"{model.event_type}.v{model.schema_version}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def main(argv: list[str]) -> int:
    rendered = render()
    if "--check" in argv:
        stale = [name for name, text in rendered.items()
                 if not (SCHEMA_DIR / name).exists() or (SCHEMA_DIR / name).read_text() != text]
        extra = sorted(p.name for p in SCHEMA_DIR.glob("*.json") if p.name not in rendered)
        if stale or extra:
            print(f"stale schemas: {stale}, schemas without a contract: {extra}; "
                  "run `make schemas`", file=sys.stderr)
            return 1
        return 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for path in SCHEMA_DIR.glob("*.json"):
        if path.name not in rendered:
            path.unlink()
    for name, text in rendered.items():
        (SCHEMA_DIR / name).write_text(text)
    print(f"wrote {len(rendered)} schemas to {SCHEMA_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
