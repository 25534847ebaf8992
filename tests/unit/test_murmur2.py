"""The relay's own murmur2 must put every key on the partition the Kafka clients would."""
from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from kaskade_platform.batches import murmur2, murmur2_in_python

# From Apache Kafka's UtilsTest.testMurmur2 (the Java client's results, as signed ints).
JAVA = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829, b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107}


# The one the relay uses (in C where its wheel installs), and the Python one it falls back to.
HASHES = [murmur2, murmur2_in_python]


@pytest.mark.parametrize("hash_", HASHES)
@pytest.mark.parametrize("key", sorted(JAVA))
def test_murmur2_matches_the_java_client(hash_: Callable[[bytes], int], key: bytes) -> None:
    h = hash_(key)
    signed = h - (1 << 32) if h >= 1 << 31 else h
    assert signed == JAVA[key]


@pytest.mark.parametrize("hash_", HASHES)
def test_murmur2_matches_aiokafka_for_keys_of_every_length_and_byte(hash_: Callable[[bytes], int]) -> None:
    rng = random.Random(2)
    keys = [bytes(rng.randrange(256) for _ in range(n)) for n in range(0, 70) for _ in range(30)]
    keys += ["acme:kundé-7".encode(), b"\xff" * 9, b""]
    assert [hash_(k) for k in keys] == [aiokafka_murmur2(k) for k in keys]


def test_the_relay_hashes_keys_in_c() -> None:
    """The wheel is a pinned dependency: a missing one would cost the relay ten times the hashing."""
    assert murmur2 is not murmur2_in_python
