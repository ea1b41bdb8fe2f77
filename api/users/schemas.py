"""What clients send and receive for authentication."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TokenOut(BaseModel):
    """An OAuth2 bearer token (RFC 6749 section 5.1)."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds until the token expires")
