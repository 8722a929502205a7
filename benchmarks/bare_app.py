"""The yardstick: a bare Flask app that renders one Jinja template, nothing else.

Served by the benchmark under the same gunicorn set-up as the portal:
`gunicorn "benchmarks.bare_app:create_bare_app()"`. BENCH_BARE_PAGE_BYTES sets the size of
the page (the benchmark passes the size of the portal's review page), so the two compare
like for like: same server, same size, same autoescaping; no database, no session.
"""

from __future__ import annotations

import os

from flask import Flask, render_template
from jinja2 import DictLoader

TEMPLATE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body>
<main>
<h1>{{ title }}</h1>
{% for row in rows %}<p class="row" id="row-{{ loop.index }}">{{ row }}</p>
{% endfor %}</main>
</body>
</html>
"""
ROW = 'A row of text, escaped on the way out: <b> & "quotes" are not markup. '
DEFAULT_PAGE_BYTES = 10_000


def create_bare_app(page_bytes: int | None = None) -> Flask:
    """The bare app; `page_bytes` (else BENCH_BARE_PAGE_BYTES) is its page's size in bytes."""
    size = page_bytes or int(os.environ.get("BENCH_BARE_PAGE_BYTES") or DEFAULT_PAGE_BYTES)
    app = Flask(__name__)
    app.jinja_loader = DictLoader({"bare.html": TEMPLATE})
    with app.app_context():
        rows = rows_for_size(app, size)

    @app.get("/")
    def page() -> str:
        return render_template("bare.html", title="A bare page", rows=rows)

    return app


def _rendered_size(app: Flask, rows: list[str]) -> int:
    return len(app.jinja_env.get_template("bare.html").render(title="A bare page", rows=rows).encode())


def rows_for_size(app: Flask, size: int) -> list[str]:
    """Rows that make the page exactly `size` bytes long (or as near as a row allows)."""
    empty = _rendered_size(app, [])
    rows = [ROW] * max(1, (size - empty) // (_rendered_size(app, [ROW]) - empty))
    while True:
        padding_row = _rendered_size(app, [*rows, ""]) - _rendered_size(app, rows)
        shortfall = size - _rendered_size(app, rows) - padding_row
        if shortfall >= 0 or len(rows) == 1:
            break
        rows.pop()
    if shortfall >= 0:
        rows.append("x" * shortfall)
    return rows
