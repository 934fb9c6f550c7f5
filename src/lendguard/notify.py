"""The notification port: how one-time codes and notices reach a borrower.

``Notifier`` is the port. ``MemoryOutbox`` keeps messages in memory (tests, the Python
API's default); ``FileOutbox`` appends JSON lines to a local file that the borrower reads
with ``lendguard outbox`` — the default adapter of the CLI, standing in for SMS or push.
``CodeSource`` makes one-time codes (RFC 4226 HOTP through pyotp, a fresh random secret
for every code); the code is delivered, never stored: the ledger keeps a salted hash.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import pyotp


@dataclass(frozen=True, slots=True)
class Message:
    """One notice to a borrower.

    Attributes:
      customer_id, account_id: who it is for and which account it concerns.
      kind: ``closure_code`` or another notice type.
      text: the message as the borrower reads it.
      code: the one-time code, for ``closure_code`` messages.
      at: the business time, ISO 8601.
    """

    customer_id: str
    account_id: str
    kind: str
    text: str
    code: str
    at: str


class Notifier(Protocol):
    def send(self, message: Message) -> None: ...

    def messages(self, customer_id: str) -> list[Message]: ...


class MemoryOutbox:
    def __init__(self) -> None:
        self._sent: list[Message] = []

    def send(self, message: Message) -> None:
        self._sent.append(message)

    def messages(self, customer_id: str) -> list[Message]:
        return [m for m in self._sent if m.customer_id == customer_id]


class FileOutbox:
    """Messages as JSON lines in one file, appended, never rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, message: Message) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(message), ensure_ascii=False) + "\n")

    def messages(self, customer_id: str) -> list[Message]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8") as lines:
            found = [Message(**json.loads(line)) for line in lines if line.strip()]
        return [m for m in found if m.customer_id == customer_id]


class CodeSource:
    """Six-digit one-time codes (RFC 4226) and salts. ``seed`` makes them reproducible
    (simulations and tests); without it they come from the operating system's CSPRNG."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed) if seed is not None else None

    def _token(self, nbytes: int) -> bytes:
        if self._random is None:
            return secrets.token_bytes(nbytes)
        return self._random.randbytes(nbytes)

    def new_code(self) -> tuple[str, str]:
        """A fresh one-time code and the salt its hash is stored with."""
        secret = base64.b32encode(self._token(20)).decode()
        code = pyotp.HOTP(secret).at(0)
        return code, self._token(8).hex()
