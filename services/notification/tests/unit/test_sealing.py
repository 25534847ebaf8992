"""Webhook signing secrets sealed at rest: bound to their endpoint, rotated through a key ring."""
from __future__ import annotations

import uuid

import pytest

from notification.webhooks.sealing import SealError, SecretBox

OLD, NEW = "o" * 32 + "-old-key-material", "n" * 32 + "-new-key-material"
SECRET = "whsec_" + "A" * 43


def test_a_sealed_secret_opens_for_its_endpoint_only_and_never_shows_in_clear() -> None:
    box, endpoint = SecretBox([NEW]), uuid.uuid4()
    sealed = box.seal(SECRET, endpoint)
    assert SECRET not in sealed and "AAAA" not in sealed and sealed.startswith(box.current_prefix)
    assert box.open(sealed, endpoint) == SECRET
    assert box.seal(SECRET, endpoint) != sealed  # a fresh nonce every time
    with pytest.raises(SealError, match="sealed for another endpoint"):
        box.open(sealed, uuid.uuid4())  # copied onto another endpoint's row


def test_an_altered_or_unknown_key_secret_is_refused_with_the_reason() -> None:
    endpoint = uuid.uuid4()
    sealed = SecretBox([OLD]).seal(SECRET, endpoint)
    with pytest.raises(SealError, match="not in the key ring"):
        SecretBox([NEW]).open(sealed, endpoint)
    head, tail = sealed.rsplit(".", 1)
    with pytest.raises(SealError, match="altered"):
        SecretBox([OLD]).open(f"{head}.{tail[:-2]}{'A' if tail[-2] != 'A' else 'B'}{tail[-1]}", endpoint)
    with pytest.raises(SealError, match="malformed"):
        SecretBox([OLD]).open("v1.only-two", endpoint)


def test_rotation_opens_the_old_key_and_reseals_under_the_new_one() -> None:
    endpoint = uuid.uuid4()
    under_old = SecretBox([OLD]).seal(SECRET, endpoint)
    ring = SecretBox.from_setting(f"{NEW}, {OLD}")
    assert ring.open(under_old, endpoint) == SECRET
    moved = ring.reseal(under_old, endpoint)
    assert moved is not None and moved.startswith(ring.current_prefix) and ring.open(moved, endpoint) == SECRET
    assert ring.reseal(moved, endpoint) is None  # already under the current key
    assert SecretBox([NEW]).open(moved, endpoint) == SECRET  # the old key can now leave the ring


def test_secrets_stored_in_clear_before_sealing_still_open_and_get_sealed() -> None:
    box, endpoint = SecretBox([NEW]), uuid.uuid4()
    assert box.open(SECRET, endpoint) == SECRET
    sealed = box.reseal(SECRET, endpoint)
    assert sealed is not None and box.open(sealed, endpoint) == SECRET


@pytest.mark.parametrize("ring", ["", " , ", "short-key"])
def test_an_empty_or_weak_key_ring_is_refused_at_startup(ring: str) -> None:
    with pytest.raises(ValueError, match="empty|at least 32 characters"):
        SecretBox.from_setting(ring)
