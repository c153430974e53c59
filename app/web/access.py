"""Who may do what. Every view says which roles may use it; region scoping happens in the services."""
from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user, login_required

F = TypeVar("F", bound=Callable[..., Any])

EVERYONE = ("facilitator", "treatment_manager", "lead", "admin")
MANAGERS = ("treatment_manager", "admin")


def roles(*allowed: str) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in allowed:
                from flask import request

                logging.getLogger("app.security").warning(
                    "authorisation denied", extra={"event": "authz_denied", "user_id": current_user.id,
                                                   "role": current_user.role, "path": request.path,
                                                   "method": request.method})
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = allowed  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def is_htmx() -> bool:
    from flask import request

    return request.headers.get("HX-Request") == "true"
