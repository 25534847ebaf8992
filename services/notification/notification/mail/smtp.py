"""Sending over SMTP with a few long-lived connections (aiosmtplib), each carrying one message
at a time; a broken connection is dropped and opened again on next use."""
from __future__ import annotations

import asyncio
from email.message import Message

import aiosmtplib

from notification.config import Settings


class PermanentFailure(Exception):
    """The server refused the message for good (5xx): sending it again would not help."""


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        for _ in range(settings.smtp_connections):
            self._idle.put_nowait(self._client())

    @property
    def connections(self) -> int:
        return self.settings.smtp_connections

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(hostname=s.smtp_host, port=s.smtp_port, timeout=s.smtp_timeout_s,
                               start_tls=s.smtp_starttls, username=s.smtp_username,
                               password=s.smtp_password.get_secret_value() if s.smtp_password else None)

    async def send(self, message: Message) -> None:
        """Raises PermanentFailure for a 5xx refusal; any other exception is worth a retry."""
        client = await self._idle.get()
        try:
            if not client.is_connected:
                await client.connect()
            await client.send_message(message)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                raise PermanentFailure(f"{exc.code} {exc.message}") from exc
            client = self._reset(client)
            raise
        except aiosmtplib.SMTPRecipientsRefused as exc:
            client = self._reset(client)
            codes = [e.code for e in exc.recipients]
            if codes and min(codes) >= 500:
                raise PermanentFailure("; ".join(f"{e.code} {e.message}" for e in exc.recipients)) from exc
            raise
        except BaseException:
            client = self._reset(client)
            raise
        finally:
            self._idle.put_nowait(client)

    def _reset(self, client: aiosmtplib.SMTP) -> aiosmtplib.SMTP:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - it is being thrown away
            pass
        return self._client()

    async def close(self) -> None:
        while not self._idle.empty():
            client = self._idle.get_nowait()
            if client.is_connected:
                try:
                    await asyncio.wait_for(client.quit(), 2)
                except Exception:  # noqa: BLE001 - closing anyway
                    client.close()
