"""E-mail addresses as SMTP carries them: the domain in its ASCII (IDNA, `xn--`) form, a part before the @ that is
not ASCII only to a server that offers SMTPUTF8 (RFC 6531)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import idna

MAX_LOCAL_BYTES = 64  # RFC 5321 4.5.3.1.1
MAX_ADDRESS = 254
_SPECIALS = set('()<>[]\\,;:"@')


class AddressError(ValueError):
    """The address cannot be sent to; the message says why, in words for the person who typed it."""


@dataclass(frozen=True)
class MailAddress:
    local: str
    domain: str  # ASCII: the IDNA form of a domain with other letters

    @property
    def needs_smtputf8(self) -> bool:
        return not self.local.isascii()

    def __str__(self) -> str:
        return f"{self.local}@{self.domain}"


def parse(address: str) -> MailAddress:
    """The address with its domain in IDNA form, or AddressError saying what is wrong with it."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise AddressError("an e-mail address is a name, an @ and a domain, such as kim@example.com")
    local = unicodedata.normalize("NFC", local)
    if len(local.encode()) > MAX_LOCAL_BYTES:
        raise AddressError(f"the part before the @ is longer than {MAX_LOCAL_BYTES} bytes")
    if any(ch in _SPECIALS or ch.isspace() or unicodedata.category(ch)[0] in "CZ" for ch in local):
        raise AddressError('the part before the @ has a space, a control character or one of ()<>[]\\,;:"@')
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise AddressError("the part before the @ has a dot at its start or end, or two in a row")
    try:
        ascii_domain = idna.encode(domain.rstrip("."), uts46=True, std3_rules=True).decode("ascii")
    except idna.IDNAError as exc:
        raise AddressError(f"{domain} is not a valid domain name ({exc})") from None
    if "." not in ascii_domain:
        raise AddressError(f"{domain} is not a full domain name (it has no dot)")
    if len(local.encode()) + 1 + len(ascii_domain) > MAX_ADDRESS:
        raise AddressError(f"the address is longer than {MAX_ADDRESS} characters")
    return MailAddress(local, ascii_domain)
