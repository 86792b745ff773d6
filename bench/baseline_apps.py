"""Bare Flask baselines served by the same gunicorn settings as the consent server.

    gunicorn 'bench.baseline_apps:app'

POST /echo   returns the JSON body it was sent (the baseline of the consent POST)
GET  /hello  returns a short text (the baseline of the 304 config GET)
"""

from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/echo")
def echo():  # type: ignore[no-untyped-def]
    """Parse the JSON body and send it back as JSON."""
    return jsonify(request.get_json()), 201


@app.get("/hello")
def hello() -> str:
    """Hello, world."""
    return "Hello, world!"
