"""Mail summary: unread and important counts, and the latest subjects, from a local Maildir or an IMAP
server (imaplib in a worker thread, so the event loop never waits on the mail server)."""

from __future__ import annotations

import asyncio
import imaplib
import mailbox
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Protocol

from pentad.core.errors import UpstreamError


@dataclass(frozen=True, slots=True)
class MailSummary:
    unread: int
    important: int
    latest: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"unread": self.unread, "important": self.important, "latest": self.latest}


class MailProvider(Protocol):
    async def summary(self, count: int) -> MailSummary: ...


def _text(value: str | None) -> str:
    return str(make_header(decode_header(value))) if value else ""


def _is_important(sender: str, flagged: bool, important_senders: list[str]) -> bool:
    address = parseaddr(sender)[1].lower()
    return flagged or any(address.endswith(entry.lower()) for entry in important_senders)


class MaildirMail:
    def __init__(self, path: Path | None, important_senders: list[str]) -> None:
        self._path = path
        self._important = important_senders

    def _read(self, count: int) -> MailSummary:
        if self._path is None or not self._path.exists():
            return MailSummary(0, 0)
        box = mailbox.Maildir(self._path, create=False)
        unread = important = 0
        latest = []
        for message in box:
            flags = message.get_flags()
            if "S" in flags:
                continue
            unread += 1
            if _is_important(message.get("From", ""), "F" in flags, self._important):
                important += 1
            latest.append(
                (
                    message.get_date(),
                    {"from": _text(message.get("From")), "subject": _text(message.get("Subject"))},
                )
            )
        latest.sort(key=lambda item: item[0], reverse=True)
        return MailSummary(unread, important, [item for _date, item in latest[:count]])

    async def summary(self, count: int) -> MailSummary:
        return await asyncio.to_thread(self._read, count)


class ImapMail:
    def __init__(
        self,
        host: str,
        port: int,
        ssl: bool,
        user: str,
        password: str,
        mailbox_name: str,
        important_senders: list[str],
    ) -> None:
        self._host, self._port, self._ssl = host, port, ssl
        self._user, self._password, self._mailbox = user, password, mailbox_name
        self._important = important_senders

    def _read(self, count: int) -> MailSummary:
        client_type = imaplib.IMAP4_SSL if self._ssl else imaplib.IMAP4
        try:
            with client_type(self._host, self._port, timeout=15) as client:
                client.login(self._user, self._password)
                client.select(self._mailbox, readonly=True)
                _typ, unseen = client.search(None, "UNSEEN")
                ids = unseen[0].split() if unseen and unseen[0] else []
                _typ, flagged = client.search(None, "UNSEEN", "FLAGGED")
                flagged_ids = set(flagged[0].split()) if flagged and flagged[0] else set()
                latest: list[dict[str, str]] = []
                important = len(flagged_ids)
                for message_id in reversed(ids):
                    _typ, data = client.fetch(message_id, "(BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])")
                    header = data[0][1] if data and isinstance(data[0], tuple) else b""
                    parsed = mailbox.Message(header)
                    sender = _text(parsed.get("From"))
                    if message_id not in flagged_ids and _is_important(sender, False, self._important):
                        important += 1
                    if len(latest) < count:
                        latest.append({"from": sender, "subject": _text(parsed.get("Subject"))})
                return MailSummary(len(ids), important, latest)
        except (imaplib.IMAP4.error, OSError) as exc:
            raise UpstreamError(f"Mail server unavailable: {type(exc).__name__}") from None

    async def summary(self, count: int) -> MailSummary:
        return await asyncio.to_thread(self._read, count)
