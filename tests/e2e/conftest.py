"""The four services as separate processes, each with only its own database credentials."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kaskade_devtools.stack import ROOT, Stack


@pytest.fixture(scope="module")
def stack(infra: Any) -> Iterator[Stack]:
    # Per module, so the stack is gone before other tests run their own instances of the services
    # (a live stack would join their consumer groups and take their events).
    s = Stack(log_dir=ROOT / ".local/e2e-logs", http_port=8300)
    s.start(timeout=90)
    try:
        yield s
    finally:
        codes = s.stop()
        # A clean SIGTERM shutdown is part of the contract: stop consuming, finish, commit, close.
        assert all(code == 0 for code in codes.values()), f"unclean shutdown: {codes}; logs in {s.log_dir}"
