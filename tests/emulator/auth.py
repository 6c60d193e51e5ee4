"""OAuth2 for the emulator: throw-away service accounts and the JWT-bearer
token endpoint google-auth talks to (RS256 signature checked against the
registered public key, ``aud`` and ``scope`` checked, token tied to the
client e-mail)."""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SHEETS_SCOPES = {
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/spreadsheets.readonly",
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/drive.file",
    "https://www.googleapis.com/auth/drive.readonly",
}
WRITE_SCOPES = {
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/drive.file",
}
DRIVE_SCOPES = {
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/drive.file",
    "https://www.googleapis.com/auth/drive.readonly",
}


@dataclass(frozen=True)
class TokenRequest:
    """One successful token grant: who asked, for which scopes, what they got."""

    client_email: str
    scope: str
    access_token: str


@dataclass(frozen=True)
class Grant:
    email: str
    scopes: frozenset[str]
    expires_at: float


class TokenError(Exception):
    """A refused grant: OAuth error code and description (HTTP 400/401)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_service_account(
    directory: Path, email: str, key: rsa.RSAPrivateKey, token_uri: str
) -> tuple[Path, str]:
    """Write a service-account JSON file; returns (path, private_key_id)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key_id = secrets.token_hex(20)
    project = email.split("@", 1)[1].split(".", 1)[0] if "@" in email else "test-project"
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": email,
        "client_id": str(10**20 + secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{email.split('@', 1)[0]}-{key_id[:8]}.json"
    path.write_text(json.dumps(info, indent=2))
    path.chmod(0o600)
    return path, key_id


class TokenIssuer:
    """Registered public keys and issued access tokens (thread-safety: caller's lock)."""

    def __init__(self, token_uri: str, clock: Any = time.time) -> None:
        self.token_uri = token_uri
        self.clock = clock
        self.keys: dict[str, list[rsa.RSAPublicKey]] = {}
        self.tokens: dict[str, Grant] = {}

    def register(self, email: str, public_key: rsa.RSAPublicKey) -> None:
        self.keys.setdefault(email, []).append(public_key)

    def issue(self, email: str, scope: str, lifetime: float = 3600) -> str:
        token = "ya29.emu-" + secrets.token_urlsafe(32)
        self.tokens[token] = Grant(email, frozenset(scope.split()), self.clock() + lifetime)
        return token

    def grant(self, form: dict[str, list[str]]) -> tuple[str, str, dict[str, Any]]:
        """Check a JWT-bearer grant; returns (email, scope, token response)."""
        grant_type = (form.get("grant_type") or [""])[0]
        if grant_type != JWT_BEARER:
            raise TokenError("unsupported_grant_type", "Invalid grant_type: " + grant_type)
        assertion = (form.get("assertion") or [""])[0]
        parts = assertion.split(".")
        if len(parts) != 3:
            raise TokenError("invalid_grant", "Invalid JWT: Token must be a short-lived token")
        try:
            header = json.loads(_b64decode(parts[0]))
            claims = json.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except (ValueError, json.JSONDecodeError):
            raise TokenError("invalid_grant", "Invalid JWT: malformed") from None
        if header.get("alg") != "RS256":
            raise TokenError("invalid_grant", "Invalid JWT: unsupported algorithm")
        email = str(claims.get("iss", ""))
        keys = self.keys.get(email)
        if not keys:
            raise TokenError("invalid_grant", "Invalid grant: account not found")
        signed = f"{parts[0]}.{parts[1]}".encode()
        for key in keys:
            try:
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
                break
            except InvalidSignature:
                continue
        else:
            raise TokenError("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") not in (self.token_uri, GOOGLE_TOKEN_URI):
            raise TokenError("invalid_grant", "Invalid JWT: Failed audience check.")
        now = self.clock()
        iat, exp = float(claims.get("iat", 0)), float(claims.get("exp", 0))
        if exp < now - 300 or iat > now + 300 or exp - iat > 3600 + 60:
            raise TokenError(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        scope = str(claims.get("scope", ""))
        if not scope:
            raise TokenError(
                "invalid_scope",
                "Invalid OAuth scope or ID token audience provided.",
            )
        token = self.issue(email, scope)
        return email, scope, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def check(self, token: str) -> Grant | None:
        grant = self.tokens.get(token)
        if grant is None or grant.expires_at < self.clock():
            return None
        return grant
