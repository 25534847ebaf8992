"""Tenant API keys: what an operator is handed, what is stored, and which keys still open the door."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from kaskade_platform import apikeys

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
TOKEN = re.compile(r"^ksk_(?P<id>[0-9a-f]{16})\.(?P<secret>[A-Za-z0-9_-]{43})$")


def stored(key: apikeys.NewKey, **changes: object) -> apikeys.StoredKey:
    """The row the operator API writes for a freshly minted key."""
    row = apikeys.StoredKey(key_id=key.key_id, tenant_id="acme-shop", secret_hash=key.secret_hash,
                            expires_at=None, revoked_at=None)
    return replace(row, **changes)  # type: ignore[arg-type]


def secret_of(key: apikeys.NewKey) -> str:
    parsed = apikeys.parse(key.token)
    assert parsed is not None
    return parsed[1]


# --- minting ----------------------------------------------------------------------------------

def test_a_minted_key_reads_prefix_id_dot_secret() -> None:
    key = apikeys.mint()

    match = TOKEN.fullmatch(key.token)
    assert match, key.token
    assert match["id"] == key.key_id
    assert apikeys.parse(key.token) == (key.key_id, match["secret"])


def test_every_mint_is_a_new_id_and_secret() -> None:
    keys = [apikeys.mint() for _ in range(50)]

    assert len({k.key_id for k in keys}) == 50
    assert len({secret_of(k) for k in keys}) == 50
    assert len({k.secret_hash for k in keys}) == 50


def test_what_is_stored_does_not_contain_or_reveal_the_secret() -> None:
    key = apikeys.mint()
    secret = secret_of(key)

    assert len(key.secret_hash) == 32  # a digest, not an encoding of the secret
    assert secret.encode() not in key.secret_hash and key.secret_hash not in key.token.encode()
    assert key.secret_hash.hex() not in key.token
    # The hash only confirms a secret someone already has; it does not open the door itself.
    assert apikeys.verify(stored(key), key.secret_hash.hex(), NOW) is None
    assert apikeys.verify(stored(key), key.secret_hash.decode("latin-1"), NOW) is None


# --- verifying --------------------------------------------------------------------------------

def test_the_right_secret_names_the_tenant() -> None:
    key = apikeys.mint()

    assert apikeys.verify(stored(key), secret_of(key), NOW) == "acme-shop"


@pytest.mark.parametrize("wrong", ["", "x", "guess", "secret-of-another-key"])
def test_a_wrong_secret_is_refused(wrong: str) -> None:
    key = apikeys.mint()

    assert apikeys.verify(stored(key), wrong, NOW) is None


def test_another_keys_secret_is_refused() -> None:
    mine, theirs = apikeys.mint(), apikeys.mint()

    assert apikeys.verify(stored(mine), secret_of(theirs), NOW) is None


def test_a_near_miss_secret_is_refused() -> None:
    key = apikeys.mint()
    secret = secret_of(key)

    assert apikeys.verify(stored(key), secret[:-1], NOW) is None
    assert apikeys.verify(stored(key), secret + "A", NOW) is None
    assert apikeys.verify(stored(key), secret.swapcase(), NOW) is None


def test_an_unknown_key_id_is_refused() -> None:
    assert apikeys.verify(None, "anything", NOW) is None


def test_a_revoked_key_is_refused_even_with_its_secret() -> None:
    key = apikeys.mint()

    assert apikeys.verify(stored(key, revoked_at=NOW - timedelta(seconds=1)), secret_of(key), NOW) is None
    # Revocation wins over a grace period still running.
    row = stored(key, revoked_at=NOW - timedelta(seconds=1), expires_at=NOW + timedelta(days=1))
    assert apikeys.verify(row, secret_of(key), NOW) is None


@pytest.mark.parametrize("expires_in, valid", [
    (timedelta(days=1), True),
    (timedelta(microseconds=1), True),
    (timedelta(0), False),  # expiring now means expired
    (-timedelta(microseconds=1), False),
    (-timedelta(days=1), False),
])
def test_a_rotated_key_works_until_its_expiry_and_not_at_it(expires_in: timedelta, valid: bool) -> None:
    key = apikeys.mint()

    tenant = apikeys.verify(stored(key, expires_at=NOW + expires_in), secret_of(key), NOW)

    assert tenant == ("acme-shop" if valid else None)


# --- parsing ----------------------------------------------------------------------------------

@pytest.mark.parametrize("token", [
    "",
    "0123456789abcdef.secret",  # no prefix
    "KSK_0123456789abcdef.secret",  # the prefix is case-sensitive
    "sk_0123456789abcdef.secret",
    "ksk_0123456789abcdefsecret",  # no dot
    "ksk_",
    "ksk_.",  # both parts empty
    "ksk_.secret",  # empty id
    "ksk_0123456789abcdef.",  # empty secret
    "ksk_" + "a" * 16 + "." + "s" * 180,  # 201 characters
    "ksk_" + "a" * 16 + "." + "s" * 1000,
])
def test_a_malformed_token_is_not_parsed(token: str) -> None:
    assert apikeys.parse(token) is None


def test_a_token_of_exactly_200_characters_is_parsed() -> None:
    token = "ksk_" + "a" * 16 + "." + "s" * 179

    assert len(token) == 200
    assert apikeys.parse(token) == ("a" * 16, "s" * 179)


def test_only_the_first_dot_separates_id_and_secret() -> None:
    assert apikeys.parse("ksk_abc.def.ghi") == ("abc", "def.ghi")
