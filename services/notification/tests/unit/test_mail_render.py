"""Email rendering: both languages, both parts, escaping, money, the unsubscribe headers."""
from __future__ import annotations

import uuid
from email import message_from_bytes, policy
from datetime import datetime, timezone

import pytest

from notification.domain import TEMPLATES
from notification.mail import links
from notification.mail.render import Item, compose, language, money, render

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
CONTEXT = {"amount_minor": 1250, "currency": "EUR", "campaign_id": "spring", "reward_id": "r", "kind": "discount_code",
           "discount_code": "<b>CODE</b>", "remaining_minor": 300, "reason": "refund"}


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("lang", ["en", "de"])
def test_every_template_exists_in_both_languages_with_amount_and_unsubscribe_link(template: str, lang: str) -> None:
    subject, text, html = render([Item(template, CONTEXT, NOW)], lang, "https://n.example/u/t?a=1&b=2")

    assert subject
    assert ("12,50 €" if lang == "de" else "€12.50") in text
    assert "https://n.example/u/t?a=1&b=2" in text
    assert 'href="https://n.example/u/t?a=1&amp;b=2"' in html
    assert f'<html lang="{lang}">' in html


def test_html_is_escaped_and_text_is_not() -> None:
    _, text, html = render([Item("welcome_discount_referee", CONTEXT, NOW)], "en", "u")
    assert "&lt;b&gt;CODE&lt;/b&gt;" in html and "<b>CODE" not in html
    assert "<b>CODE</b>" in text


def test_german_and_english_differ() -> None:
    en = render([Item("reward_confirmed", CONTEXT, NOW)], "en", "u")
    de = render([Item("reward_confirmed", CONTEXT, NOW)], "de", "u")
    assert "confirmed" in en[1] and "bestätigt" in de[1]


def test_a_digest_lists_every_notification() -> None:
    items = [Item("reward_granted_referrer", CONTEXT, NOW), Item("reward_revoked", {**CONTEXT, "amount_minor": 200}, NOW)]
    subject, text, html = render(items, "de", "u")
    assert subject == "Neuigkeiten zu Ihren Prämien"
    assert "Prämie erhalten: 12,50 €" in text and "Prämie zurückgenommen: 2,00 €" in text
    assert html.count("<li>") == 2


def test_language_follows_the_locale_and_falls_back_to_english() -> None:
    assert [language(x) for x in ("de", "de-AT", "en", "fr", None)] == ["de", "de", "en", "en", "en"]


def test_money_per_language() -> None:
    assert money(123456, "EUR", "de") == "1.234,56 €"
    assert money(123456, "USD", "en") == "$1,234.56"
    assert money(1500, "PTS", "de") == "1.500 Punkte"
    assert money(500, "JPY", "en") == "500 JPY"


def test_the_message_carries_one_click_unsubscribe_headers_and_a_stable_message_id() -> None:
    mid = uuid.uuid4()
    msg = compose(message_id=mid, sender="Shop <r@shop.example>", to="anna@example.com",
                  items=[Item("reward_confirmed", CONTEXT, NOW)], locale="de", unsubscribe_url="https://n/u/x",
                  domain="shop.example", now=NOW)

    received = message_from_bytes(msg.as_bytes(), policy=policy.default)  # as a mail client reads it
    assert received["Message-ID"] == f"<{mid}@shop.example>"
    assert received["Subject"] == "Ihre Prämie ist bestätigt"
    assert received["List-Unsubscribe"] == "<https://n/u/x>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["Content-Language"] == "de"
    assert [p.get_content_type() for p in received.iter_parts()] == ["text/plain", "text/html"]
    assert "bestätigt" in received.get_body(("plain",)).get_content()


def test_unsubscribe_tokens_are_unforgeable() -> None:
    mid = uuid.uuid4()
    token = links.token_for(b"secret", mid)
    assert links.message_of(b"secret", token) == mid
    assert links.message_of(b"other", token) is None
    assert links.message_of(b"secret", f"{uuid.uuid4().hex}.{token.split('.')[1]}") is None
    assert links.message_of(b"secret", "garbage") is None
