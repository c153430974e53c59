"""Stored per-referral progress (SPEC §4), kept equal to a full recomputation.

A session template is complete for a person when any session of it — original, catch-up, or in an earlier
group of the same programme — has outcome ATTC. The stored rows are updated in the attendance transaction."""
from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Attendance, Attendee, Module, Referral, ReferralProgress, Session, SessionTemplate, TemplateCompletion,
)
from app.scheduling import ATTENDED_COMPLIED


def _totals(template_id: int) -> tuple[int, dict[int, int]]:
    rows = db.session.execute(
        select(SessionTemplate.module_id, func.count(SessionTemplate.id))
        .join(Module).where(Module.template_id == template_id).group_by(SessionTemplate.module_id)
    ).all()
    per_module = {module_id: count for module_id, count in rows}
    return sum(per_module.values()), per_module


def refresh_referral(referral: Referral, template_id: int) -> ReferralProgress:
    """Recompute one person's roll-up from their TemplateCompletion rows (a handful of rows: cheap)."""
    total, per_module = _totals(template_id)
    done = dict(db.session.execute(
        select(SessionTemplate.module_id, func.count(TemplateCompletion.id))
        .join(SessionTemplate, SessionTemplate.id == TemplateCompletion.session_template_id)
        .join(Module, Module.id == SessionTemplate.module_id)
        .where(TemplateCompletion.referral_id == referral.id, Module.template_id == template_id)
        .group_by(SessionTemplate.module_id)
    ).all())
    completed = sum(done.values())
    progress = db.session.get(ReferralProgress, referral.id) or ReferralProgress(referral_id=referral.id)
    progress.sessions_completed = completed
    progress.sessions_total = total
    progress.modules_completed = sum(1 for m, n in per_module.items() if done.get(m, 0) >= n)
    progress.percent = (100 * completed // total) if total else 0
    progress.complete = total > 0 and completed == total
    db.session.add(progress)
    return progress


def attendee_changed(attendee: Attendee, attendance: Attendance) -> None:
    """Keep TemplateCompletion right for this attendee's session template after an outcome change."""
    session = attendee.session
    template_id = session.session_template_id
    existing = db.session.scalar(select(TemplateCompletion).filter_by(
        referral_id=attendee.referral_id, session_template_id=template_id))
    if attendance.outcome == ATTENDED_COMPLIED:
        if existing is None:
            db.session.add(TemplateCompletion(referral_id=attendee.referral_id,
                                              session_template_id=template_id, attendee_id=attendee.id))
    elif existing is not None and existing.attendee_id == attendee.id:
        # This was the completing attendance; another ATTC of the same template (a catch-up) may still count.
        other = db.session.scalar(
            select(Attendee.id).join(Attendance).join(Session, Session.id == Attendee.session_id)
            .where(Attendee.referral_id == attendee.referral_id, Session.session_template_id == template_id,
                   Attendance.outcome == ATTENDED_COMPLIED, Attendee.id != attendee.id).limit(1)
        )
        if other is None:
            db.session.delete(existing)
        else:
            existing.attendee_id = other
    db.session.flush()
    refresh_referral(attendee.referral, session.group.template_id)


def recompute_all() -> dict[int, tuple[int, int]]:
    """Every referral's completed-template count from attendance alone: {referral_id: (completed, stored)}
    for the ones that differ from what is stored."""
    truth = dict(db.session.execute(
        select(Attendee.referral_id, func.count(func.distinct(Session.session_template_id)))
        .join(Attendance, Attendance.attendee_id == Attendee.id)
        .join(Session, Session.id == Attendee.session_id)
        .where(Attendance.outcome == ATTENDED_COMPLIED).group_by(Attendee.referral_id)
    ).all())
    stored = dict(db.session.execute(
        select(ReferralProgress.referral_id, ReferralProgress.sessions_completed)
    ).all())
    differences = {}
    for referral_id in set(truth) | set(stored):
        if truth.get(referral_id, 0) != stored.get(referral_id, 0):
            differences[referral_id] = (truth.get(referral_id, 0), stored.get(referral_id, 0))
    return differences

