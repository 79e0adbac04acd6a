"""Who may use the triage app, and who did an action.

Modes (``[triage] auth``):

* ``none``  — an open app on a trusted network; the agent types a name, sent with each action.
* ``token`` — one shared token: ``Authorization: Bearer <token>`` for scripts, or the login
  form, which sets an HttpOnly cookie holding a *hash* of the token (never the token).
* ``basic`` — HTTP basic auth against ``[triage.users]``; the user name is the actor.

Comparisons are constant-time. State-changing requests must carry the
``X-Klachtradar-Request`` header, which a cross-site form cannot send, so a page on
another site cannot make an agent's browser resolve posts (CSRF).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import unquote

from klachtradar.settings import TriageSettings

SESSION_COOKIE = "kr_session"
CSRF_HEADER = "x-klachtradar-request"
USER_HEADER = "x-klachtradar-user"
MAX_USER_LENGTH = 60


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated request: the user name if auth says it, else None."""

    user: str | None


def session_value(token: str) -> str:
    """What the login cookie holds: a hash of the token, so the cookie is not the secret."""
    return hashlib.sha256(f"klachtradar-session:{token}".encode()).hexdigest()


class Authenticator:
    """Checks a request's headers and cookies against the settings."""

    def __init__(self, settings: TriageSettings) -> None:
        self.settings = settings

    @property
    def mode(self) -> str:
        return self.settings.auth

    def identify(self, headers: dict[str, str], cookies: dict[str, str]) -> Identity | None:
        """The identity of a request, or None when it is not authenticated."""
        if self.mode == "none":
            return Identity(None)
        authorization = headers.get("authorization", "")
        if self.mode == "token":
            token = self.settings.token
            if not token:
                return None  # token mode without a token: nobody gets in
            if authorization.lower().startswith("bearer "):
                given = authorization[7:].strip()
                return Identity(None) if hmac.compare_digest(given, token) else None
            cookie = cookies.get(SESSION_COOKIE, "")
            return Identity(None) if hmac.compare_digest(cookie, session_value(token)) else None
        return self._basic(authorization)

    def _basic(self, authorization: str) -> Identity | None:
        if not authorization.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        expected = self.settings.users.get(user)
        if expected is None or not hmac.compare_digest(password, expected):
            return None
        return Identity(user)

    def token_matches(self, given: str) -> bool:
        token = self.settings.token
        return bool(token) and hmac.compare_digest(given, token)


def actor(identity: Identity, headers: dict[str, str]) -> str | None:
    """Who does an action: the authenticated user, else the name the agent typed."""
    if identity.user:
        return identity.user
    typed = unquote(headers.get(USER_HEADER, "")).strip()  # sent URI-encoded: names have é
    return typed if valid_name(typed) else None


def valid_name(name: str) -> bool:
    """Any printable name an agent types ("Kim (webcare)", "Zoë", "J. de Wit-Öz"): it is
    stored as text and always escaped when shown; only control characters (a line
    break that could forge an audit line) and absurd lengths are refused."""
    return 0 < len(name) <= MAX_USER_LENGTH and name.isprintable()
