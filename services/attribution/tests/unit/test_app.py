"""The composition root: an instance that both decides and projects decodes each shared event once."""
from __future__ import annotations

from attribution.app import build
from attribution.config import Settings

DSN = "postgresql://attribution:attribution@127.0.0.1:5432/kaskade"


def test_decisions_and_projection_in_one_process_share_what_they_decoded() -> None:
    runtime = build(Settings(database_url=DSN))
    assert runtime.recent is not None and runtime.outbox.recent is runtime.recent
    assert len(runtime.consumers) == 2
    assert all(c._decode == runtime.recent.decode for c in runtime.consumers)  # noqa: SLF001


def test_an_instance_with_one_of_them_decodes_every_copy() -> None:
    for settings in (Settings(database_url=DSN, analytics=False), Settings(database_url=DSN, decisions=False),
                     Settings(database_url=DSN, recent_envelopes=0)):
        runtime = build(settings)
        assert runtime.recent is None and runtime.outbox.recent is None
