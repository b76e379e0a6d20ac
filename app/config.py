"""Configuration from the environment (API.md), and the clinic policy file."""

from __future__ import annotations

import secrets
import tomllib
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain import DEFAULT_POLICY, Policy, PolicyError, policy_from_mapping
from app.localtime import DEFAULT_ZONE, UnknownTimeZone, zone_named

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "development"}


class ConfigError(RuntimeError):
    """The configuration cannot be used; start-up stops with this message."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOLDSPACE_", extra="ignore")

    database_url: str = "sqlite:///./holdspace.db"
    secret_key: str = ""
    policy: str | None = None
    # The clinic's IANA time zone: every page, notice and export shows times in it (stored: UTC).
    timezone: str = DEFAULT_ZONE
    allowed_origins: str = ""
    # Set by `holdspace demo` only: allows a generated secret key.
    demo: bool = False
    # Served over HTTPS: the session cookie gets `Secure` and answers send HSTS. Unset, it is on
    # outside the demo (API.md); a clinic serving plain HTTP on a closed network sets it false.
    secure_cookies: bool | None = Field(default=None)

    @property
    def https(self) -> bool:
        return (not self.demo) if self.secure_cookies is None else self.secure_cookies

    def checked_secret(self) -> str:
        if self.secret_key.strip().lower() in PLACEHOLDER_SECRETS or len(self.secret_key) < 16:
            if self.demo:
                return secrets.token_urlsafe(32)
            raise ConfigError(
                "HOLDSPACE_SECRET_KEY must be set to a random value of at least 16 characters "
                "(for example: python -c 'import secrets; print(secrets.token_urlsafe(32))')."
            )
        return self.secret_key

    @property
    def origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()]

    @cached_property
    def clinic_zone(self) -> ZoneInfo:
        try:
            return zone_named(self.timezone)
        except UnknownTimeZone as err:
            raise ConfigError(str(err)) from None

    @cached_property
    def clinic_policy(self) -> Policy:
        return replace(load_policy(self.policy), time_zone=self.clinic_zone)


def load_policy(path: str | None) -> Policy:
    """Read a clinic policy file (TOML); keys left out keep their defaults."""
    if not path:
        return DEFAULT_POLICY
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"policy file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"policy file {path} is not valid TOML: {err}") from None
    try:
        return policy_from_mapping(data)
    except PolicyError as err:
        raise ConfigError(f"policy file {path}: {err}") from None
