"""Emails from notifications: Jinja2 templates (autoescaped HTML, plain text), German or English,
with the unsubscribe link and the RFC 8058 one-click headers. Pure: no I/O beyond reading templates.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

LANGUAGES = ("en", "de")
SUBJECTS = {
    "en": {"reward_granted_referrer": "You earned a reward", "welcome_discount_referee": "Welcome: your discount",
           "reward_confirmed": "Your reward is confirmed", "reward_revoked": "Your reward was changed",
           "digest": "Your reward updates"},
    "de": {"reward_granted_referrer": "Sie haben eine Prämie erhalten",
           "welcome_discount_referee": "Willkommen: Ihr Rabatt",
           "reward_confirmed": "Ihre Prämie ist bestätigt", "reward_revoked": "Ihre Prämie wurde geändert",
           "digest": "Neuigkeiten zu Ihren Prämien"},
}
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF"}
ZERO_DECIMALS = {"JPY", "KRW", "PTS", "ISK", "HUF"}


@dataclass(frozen=True, slots=True)
class Item:
    template: str
    context: dict[str, Any]
    created_at: datetime


def language(locale: str | None) -> str:
    """The customer's language if we have templates for it, else English."""
    lang = (locale or "").split("-")[0].split("_")[0].lower()
    return lang if lang in LANGUAGES else "en"


def money(amount_minor: int, currency: str, lang: str) -> str:
    if currency == "PTS":
        n = f"{amount_minor:,}"
        return f"{n.replace(',', '.')} Punkte" if lang == "de" else f"{n} points"
    decimals = 0 if currency in ZERO_DECIMALS else 2
    n = f"{amount_minor / 10 ** decimals:,.{decimals}f}"
    symbol = SYMBOLS.get(currency, currency)
    if lang == "de":
        return f"{n.replace(',', '_').replace('.', ',').replace('_', '.')} {symbol}"
    return f"{symbol}{n}" if len(symbol) == 1 else f"{n} {symbol}"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["money"] = money
    return env


ENV = _environment()


def render(items: list[Item], lang: str, unsubscribe_url: str) -> tuple[str, str, str]:
    """(subject, text, html) for one notification, or a digest of several."""
    name = items[0].template if len(items) == 1 else "digest"
    values = {"lang": lang, "items": items, "unsubscribe_url": unsubscribe_url,
              **(items[0].context if len(items) == 1 else {})}
    text = ENV.get_template(f"{name}.{lang}.txt").render(values)
    html = ENV.get_template(f"{name}.{lang}.html").render(values)
    return SUBJECTS[lang][name], text, html


def compose(*, message_id: uuid.UUID, sender: str, to: str, items: list[Item], locale: str | None,
            unsubscribe_url: str, domain: str, now: datetime) -> Message:
    """Message-ID is derived from the message id, which is the notification id for a single
    email: a resend after a crash between sending and recording carries the same Message-ID, so
    receivers can drop the copy. Built with the compat32 MIME classes: the modern EmailMessage
    API costs several milliseconds per message in header parsing, more than the sending."""
    lang = language(locale)
    subject, text, html = render(items, lang, unsubscribe_url)
    msg = MIMEMultipart("alternative")
    msg["From"], msg["To"] = sender, to
    msg["Subject"] = Header(subject, "utf-8").encode() if not subject.isascii() else subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{message_id}@{domain}>"
    msg["Content-Language"] = lang
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["Auto-Submitted"] = "auto-generated"
    msg.attach(MIMEText(text, "plain", "utf-8"))
    msg.attach(MIMEText(html, "html", "utf-8"))
    return msg
