"""The brand watchlist (``configs/brands.toml``): which brands we listen for, and how.

Listeners use it to build stream rules and filter; enrichment uses it to match
brands in text. It lives in the core so both can read it without importing each
other. Each brand lists:

* ``aliases`` — names matched as whole words, case-insensitively ("t-mobile" also
  matches "T Mobile" and "tmobile": hyphens and spaces are interchangeable);
* ``ambiguous`` — aliases that are also ordinary words ("bol", "ah"); they only count
  when written as the brand usually is (``ambiguous_case``) or near a ``context`` word;
* ``handles`` and ``hashtags`` — matched whole, without '@' / '#';
* ``hashtag_prefixes`` — hashtags that start with these count too (#kpnstoring);
* ``exclude`` — phrases that mean something else ("ziggo dome", "jumbo-jet").
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from klachtradar.contract import describe_validation_error
from klachtradar.errors import ConfigError


def _lower_all(values: list[str]) -> list[str]:
    return [v.strip().lower().removeprefix("@").removeprefix("#") for v in values if v.strip()]


class BrandSpec(BaseModel):
    """One brand on the watchlist."""

    name: str = Field(min_length=1)
    sector: str = "overig"
    aliases: list[str] = Field(default_factory=list)
    ambiguous: list[str] = Field(default_factory=list)
    ambiguous_case: list[str] = Field(
        default_factory=list, description="Exact spellings of ambiguous aliases that count alone."
    )
    context: list[str] = Field(default_factory=list)
    handles: list[str] = Field(default_factory=list)
    hashtags: list[str] = Field(default_factory=list)
    hashtag_prefixes: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)

    _normalise = field_validator(
        "aliases", "ambiguous", "context", "handles", "hashtags", "hashtag_prefixes", "exclude"
    )(_lower_all)


class Watchlist(BaseModel):
    """All brands, in file order."""

    brands: list[BrandSpec] = Field(alias="brand", min_length=1)

    @field_validator("brands")
    @classmethod
    def _unique_names(cls, brands: list[BrandSpec]) -> list[BrandSpec]:
        seen: set[str] = set()
        for brand in brands:
            if brand.name in seen:
                raise ValueError(f"brand {brand.name!r} is listed twice")
            seen.add(brand.name)
        return brands

    def names(self) -> list[str]:
        """Brand names in file order."""
        return [b.name for b in self.brands]


def load_watchlist(path: Path) -> Watchlist:
    """Parse and validate a watchlist file; errors name the file and the field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: brand watchlist not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return Watchlist.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from exc
