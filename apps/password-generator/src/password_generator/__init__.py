"""A password generator served over HTTP, with nothing but the standard library."""

from password_generator.generator import ALPHABETS, PasswordPolicy, PolicyError, generate

__all__ = ["ALPHABETS", "PasswordPolicy", "PolicyError", "generate"]
__version__ = "1.0.0"
