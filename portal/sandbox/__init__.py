"""Stand-ins for LTIAAS and an LMS (development and tests only; never in production)."""

from flask import Flask


def init_sandbox(app: Flask) -> None:
    pass
