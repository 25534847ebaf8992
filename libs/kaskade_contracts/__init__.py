"""Kaskade's event contracts: the envelope, every event payload, and the topics they travel on."""
from kaskade_contracts.envelope import Envelope, EnvelopeError, decode_envelope, encode_envelope, new_envelope
from kaskade_contracts import events, topics

__all__ = ["Envelope", "EnvelopeError", "decode_envelope", "encode_envelope", "new_envelope", "events", "topics"]
