"""Export the JSON Schema of every public event and intake command, and the AsyncAPI document
of the topics they travel on.

`python -m kaskade_contracts.schemas` rewrites them; `--check` fails when a committed schema no
longer matches the code, so a contract never changes by accident.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from kaskade_contracts import topics
from kaskade_contracts.envelope import Payload, envelope_model
from kaskade_contracts.events import INTAKE_COMMANDS, PUBLIC_EVENTS

SCHEMA_DIR = Path(__file__).parent / "schemas"


def _schema(model: type[Payload]) -> dict[str, Any]:
    schema = envelope_model(model).model_json_schema()
    schema["title"] = f"{model.event_type} v{model.schema_version}"
    schema["description"] = (model.__doc__ or "").strip()
    schema["x-kaskade-topic"] = model.topic
    schema["x-kaskade-event-type"] = model.event_type
    schema["x-kaskade-schema-version"] = model.schema_version
    return schema


# Kafka headers the relay sets on every record, so consumers can route without parsing the body.
_HEADERS = {"type": "object", "properties": {name: {"type": "string"} for name in (
    "kaskade-event-type", "kaskade-schema-version", "kaskade-tenant-id", "kaskade-event-id",
    "kaskade-correlation-id")}}


def asyncapi() -> dict[str, Any]:
    """AsyncAPI 3.0: a channel per topic, the messages on it, and who sends them."""
    models = (*PUBLIC_EVENTS, *INTAKE_COMMANDS)
    messages = {f"{m.event_type}.v{m.schema_version}": {
        "name": m.event_type, "title": f"{m.event_type} v{m.schema_version}",
        "summary": (m.__doc__ or "").strip().split("\n")[0], "contentType": "application/json",
        "headers": _HEADERS, "payload": _schema(m)} for m in models}
    channels, operations = {}, {}
    for topic in topics.ALL:
        on_topic = sorted(k for k, m in zip(messages, models) if m.topic == topic.name)
        key = topic.name.replace(".", "_")
        channels[key] = {"address": topic.name, "description": topic.description,
                         "messages": {k: {"$ref": f"#/components/messages/{k}"} for k in on_topic},
                         "bindings": {"kafka": {"partitions": topic.partitions, "bindingVersion": "0.5.0"}},
                         **({"x-kaskade-topic-config": dict(topic.config)} if topic.config else {})}
        operations[f"send_{key}"] = {"action": "send", "summary": f"{topic.owner} publishes",
                                     "channel": {"$ref": f"#/channels/{key}"},
                                     "messages": [{"$ref": f"#/channels/{key}/messages/{k}"} for k in on_topic]}
    return {"asyncapi": "3.0.0",
            "info": {"title": "Kaskade events", "version": "1",
                     "description": "Every Kaskade topic and the events on it. kaskade.rewards.v1 is the public "
                                    "contract for downstream systems; each record's key is its partition key "
                                    "(tenant:recipient for rewards), its value the JSON envelope."},
            "defaultContentType": "application/json",
            "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka",
                                  "description": "the broker `make up` starts"}},
            "channels": channels, "operations": operations, "components": {"messages": messages}}


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def render() -> dict[str, str]:
    out = {f"{m.event_type}.v{m.schema_version}.json": _dump(_schema(m)) for m in (*PUBLIC_EVENTS, *INTAKE_COMMANDS)}
    out["asyncapi.json"] = _dump(asyncapi())
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
