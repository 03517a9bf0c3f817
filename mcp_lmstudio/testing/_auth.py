"""The first frame of every websocket: LM Studio's auth packet (lmstudio-js `AuthenticatedWsServer`).

Client → server `{"authVersion": 1, "clientIdentifier": str, "clientPasskey": str}`; server → client
`{"success": true}`, or `{"success": false, "error": str}` and a close. Without an API token any
well-formed packet is accepted, first come first served: later sockets with the same identifier must
bring the same passkey (`FcfsAuthenticator`). With an API token (LM Studio 0.4, `sk-lm-<id>:<secret>`),
the packet must carry the 8 characters after `sk-lm-` as `clientIdentifier` and the 20 after ':' as
`clientPasskey`: both lmstudio-python 1.6 (`_LMS_API_TOKEN_REGEX`, for `LMSTUDIO_API_TOKEN`) and
lmstudio-js 2.x (`lmstudioAPITokenRegex`, for `apiToken` / `LM_API_TOKEN`) split a token that way.
The refusal text is the emulator's own (LM Studio's exact wording is not documented).
"""

from __future__ import annotations

import json
import re
from typing import Any

from websockets.asyncio.server import ServerConnection

__all__ = ["authenticate", "split_api_token"]

#: Longest identifier or passkey the reference server accepts.
MAX_CREDENTIAL_LENGTH = 256


#: An LM Studio API token, as both SDKs parse it.
API_TOKEN = re.compile(r"^sk-lm-(?P<identifier>[A-Za-z0-9]{8}):(?P<passkey>[A-Za-z0-9]{20})$")


def split_api_token(token: str) -> tuple[str, str]:
    """`(clientIdentifier, clientPasskey)` of an API token `"sk-lm-XXXXXXXX:YYYYYYYYYYYYYYYYYYYY"`."""
    found = API_TOKEN.match(token.strip())
    if found is None:
        raise ValueError(
            "an LM Studio API token looks like 'sk-lm-XXXXXXXX:YYYYYYYYYYYYYYYYYYYY' (8 and 20 letters or digits)"
        )
    return found["identifier"], found["passkey"]


def _refusal(packet: Any, api_token: str | None, passkeys: dict[str, str]) -> str | None:
    if not (
        isinstance(packet, dict)
        and packet.get("authVersion") == 1
        and isinstance(packet.get("clientIdentifier"), str)
        and isinstance(packet.get("clientPasskey"), str)
        and len(packet["clientIdentifier"]) <= MAX_CREDENTIAL_LENGTH
        and len(packet["clientPasskey"]) <= MAX_CREDENTIAL_LENGTH
    ):
        return "Failed to validate client: malformed authentication packet"
    identifier, passkey = packet["clientIdentifier"], packet["clientPasskey"]
    if api_token is not None:
        if (identifier, passkey) != split_api_token(api_token):
            return "Failed to validate client: invalid API token"
        return None
    if passkeys.setdefault(identifier, passkey) != passkey:
        return "Failed to validate client: passkey mismatch for this client identifier"
    return None


async def authenticate(ws: ServerConnection, api_token: str | None, reject_all: bool, passkeys: dict[str, str]) -> bool:
    """Read and answer the auth packet; False (after refusing and closing) if the client may not in."""
    packet = json.loads(await ws.recv())
    refusal = "Failed to validate client: access denied" if reject_all else _refusal(packet, api_token, passkeys)
    if refusal is not None:
        await ws.send(json.dumps({"success": False, "error": refusal}))
        await ws.close(1008, "authentication failed")
        return False
    await ws.send(json.dumps({"success": True}))
    return True
