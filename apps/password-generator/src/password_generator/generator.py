"""Password policies and generation: pure functions, the randomness passed in."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from random import Random

# Symbols that survive copy and paste, shells and URLs without quoting surprises.
SYMBOLS = "!#%+-.:=@^_~"
ALPHABETS: Mapping[str, str] = {
    "lowercase": string.ascii_lowercase,
    "uppercase": string.ascii_uppercase,
    "digits": string.digits,
    "symbols": SYMBOLS,
}
MIN_LENGTH = 8
MAX_LENGTH = 128
DEFAULT_LENGTH = 20
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class PolicyError(ValueError):
    """A request asks for a password that cannot or should not be made."""


@dataclass(frozen=True, kw_only=True)
class PasswordPolicy:
    length: int = DEFAULT_LENGTH
    lowercase: bool = True
    uppercase: bool = True
    digits: bool = True
    symbols: bool = False

    @property
    def classes(self) -> tuple[str, ...]:
        """The character classes in use, in ALPHABETS order."""
        return tuple(name for name in ALPHABETS if getattr(self, name))

    def validate(self) -> None:
        if not self.classes:
            raise PolicyError("choose at least one of lowercase, uppercase, digits, symbols")
        if not MIN_LENGTH <= self.length <= MAX_LENGTH:
            raise PolicyError(f"length must be between {MIN_LENGTH} and {MAX_LENGTH}")


def generate(policy: PasswordPolicy, rng: Random | None = None) -> str:
    """A password with at least one character of each chosen class, in random order.

    ``rng`` defaults to the operating system's CSPRNG; tests pass a seeded one.
    """
    policy.validate()
    rng = rng or secrets.SystemRandom()
    alphabets = [ALPHABETS[name] for name in policy.classes]
    pool = "".join(alphabets)
    chars = [rng.choice(alphabet) for alphabet in alphabets]
    chars += [rng.choice(pool) for _ in range(policy.length - len(chars))]
    rng.shuffle(chars)
    return "".join(chars)


def policy_from_query(query: Mapping[str, Sequence[str]]) -> PasswordPolicy:
    """Read a policy from URL query parameters (``urllib.parse.parse_qs`` output)."""
    unknown = sorted(set(query) - {"length", *ALPHABETS})
    if unknown:
        raise PolicyError(f"unknown parameter {unknown[0]!r}")
    defaults = PasswordPolicy()
    length_text = _last(query, "length")
    try:
        length = defaults.length if length_text is None else int(length_text)
    except ValueError:
        raise PolicyError(f"length must be a whole number, not {length_text!r}") from None
    flags = {name: _flag(query, name, getattr(defaults, name)) for name in ALPHABETS}
    policy = PasswordPolicy(length=length, **flags)
    policy.validate()
    return policy


def _last(query: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _flag(query: Mapping[str, Sequence[str]], name: str, default: bool) -> bool:
    text = _last(query, name)
    if text is None:
        return default
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise PolicyError(f"{name} must be true or false, not {text!r}")
