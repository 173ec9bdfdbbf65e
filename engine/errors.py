"""Errors a person can cause and fix: the CLI prints them plainly and exits 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input from a person: a file, field or value they can correct."""


class SpecError(UserError):
    def __init__(self, path: str, field: str | None, problem: str) -> None:
        self.path, self.field, self.problem = path, field, problem
        where = f"{path}: field '{field}'" if field else path
        super().__init__(f"{where}: {problem}")


class NotFound(UserError):
    pass
