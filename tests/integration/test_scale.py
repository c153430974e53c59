from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Attendance, Referral, Region


def test_scale_dataset_is_consistent_and_refuses_a_second_run(app):  # type: ignore[no-untyped-def]
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "scale", "--groups", "24"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(func.count(Region.id))) == 12
    assert db.session.scalar(select(func.count(Referral.id))) == 24 * 12
    assert db.session.scalar(select(func.count(Attendance.id))) > 0
    verify = runner.invoke(args=["progress", "verify"])
    assert verify.exit_code == 0, verify.output
    again = runner.invoke(args=["demo", "scale", "--groups", "1"])
    assert again.exit_code == 2 and "already there" in again.output
