from __future__ import annotations

from flask import current_app

from jobs.context import with_app


@with_app
def refresh_bank_holidays() -> int:
    from app.services import bank_holidays

    return bank_holidays.refresh(current_app.config["BANK_HOLIDAYS_URL"])
