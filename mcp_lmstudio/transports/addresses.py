"""Which addresses only this machine can reach: the CLI asks before it will serve HTTP without a token, and must
not import the HTTP stack (uvicorn, starlette) to find out when it serves stdio."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(address: str) -> bool:
    """Whether `address` only accepts connections from this machine."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
