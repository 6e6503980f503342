"""renewbot's exceptions, all in one place.

RenewbotError
├── ConfigError        settings or keys missing or unusable; the process must not start
├── ImportFileError    an import file is refused as a whole (names the file, entry and line)
├── RenewalRejected    a renewal submission is invalid; carries per-field messages for the modal
└── StaleRenewal       the token changed since the modal opened (another renewal won)

Messages never carry a secret: callers pass descriptions, not values.
"""

from __future__ import annotations


class RenewbotError(Exception):
    """Base class: anything renewbot raises on purpose."""


class ConfigError(RenewbotError):
    pass


class ImportFileError(RenewbotError):
    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))

    def render(self) -> str:
        lines = [f"{self.path}: refused, nothing was imported"]
        lines += [f"  {self.path}: {p}" for p in self.problems]
        return "\n".join(lines)


class RenewalRejected(RenewbotError):
    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__(", ".join(f"{k}: {v}" for k, v in errors.items()))


class StaleRenewal(RenewbotError):
    def __init__(self, message: str, token_name: str) -> None:
        self.token_name = token_name
        super().__init__(message)
