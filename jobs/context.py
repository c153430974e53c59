"""Jobs run inside the Flask app: the worker's own app, or the caller's when run in-process (tests)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, current_app, has_app_context

F = TypeVar("F", bound=Callable[..., Any])
_app: Flask | None = None


def worker_app() -> Flask:
    global _app
    if _app is None:
        from app import create_app

        _app = create_app()
    return _app


@contextmanager
def app_context() -> Iterator[Flask]:
    if has_app_context():
        yield current_app._get_current_object()  # type: ignore[attr-defined]
        return
    with worker_app().app_context():
        yield worker_app()


def with_app(func: F) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with app_context():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
