"""Who someone is once HMPPS Auth has signed them in: their role from the token's authorities (the table in
app/models/user.py), their region from their nDelius teams, and their row here, made or brought up to date.

The web layer (app/web/auth) runs the OAuth2 flow and verifies the token; this owns the transaction."""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.integrations.ndelius_users import NDeliusUnavailable, StaffTeams, user_teams
from app.models import Facilitator, Region, User
from app.models.user import role_from_authorities

log = logging.getLogger("app.security")

# reason: (HTTP status, what the person is told). Every refusal of a sign-in is one of these.
REFUSALS = {
    "state": (400, "This sign-in was started in another tab or has already been used. Sign in again."),
    "code": (400, "This sign-in has already been used or has expired. Sign in again."),
    "denied": (403, "HMPPS Auth did not sign you in. Sign in again."),
    "client": (502, ("HMPPS Auth refused Programme Delivery's own credentials, so nobody can sign in just now. "
                     "Tell the service's support team.")),
    "unreachable": (503, "HMPPS Auth could not be reached. Try again in a few minutes."),
    "expired": (401, "The sign-in from HMPPS Auth had expired before it reached us. Sign in again."),
    "invalid": (401, "The sign-in from HMPPS Auth could not be verified, so it was not accepted. Sign in again."),
    "no_role": (403, "Your HMPPS Auth account has no Programme Delivery role. Ask your manager to request one."),
    "inactive": (403, "Your HMPPS Auth account is not active."),
    "disabled": (403, "Your Programme Delivery account has been disabled. Ask an admin if this is wrong."),
    "no_region": (403, ("Your nDelius teams are not in a region that uses Programme Delivery. Ask your manager "
                        "to check your teams in nDelius.")),
    "ndelius": (503, "nDelius could not be reached to find your region. Try again in a few minutes."),
}


class SignInRefused(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail
        self.status, self.message = REFUSALS[reason]


def refuse(reason: str, detail: str = "") -> SignInRefused:
    log.warning("sign-in refused", extra={"event": "sign_in_refused", "reason": reason, "detail": detail[:200]})
    return SignInRefused(reason, detail)


def complete_sign_in(claims: dict[str, Any], name: str | None) -> User:
    """The signed-in person's row, made or updated from verified token claims and their nDelius teams."""
    username = str(claims.get("user_name") or "").strip().lower()
    if not username:
        raise refuse("invalid", "the token names no user")
    role = role_from_authorities(claims.get("authorities") or [])
    if role is None:
        raise refuse("no_role", username)
    user = db.session.scalar(select(User).filter_by(username=username))
    if user is not None and not user.active:
        raise refuse("disabled", username)
    try:
        teams: StaffTeams | None = user_teams(username)
    except NDeliusUnavailable as exc:
        if user is None:
            raise refuse("ndelius", str(exc)) from exc
        log.warning("nDelius unreachable at sign-in: the region stays as it was",
                    extra={"event": "sign_in_region_kept", "user_id": user.id})
        region, staff_code = user.region, None
    else:
        region = _region(teams)
        staff_code = teams.staff_code if teams else None
        if region is None:
            raise refuse("no_region", username)
    if user is None:
        user = User(username=username, name=name or username, role=role, region_id=region.id)
        db.session.add(user)
    user.name, user.role, user.region_id = name or user.name, role, region.id
    if staff_code:
        facilitator = db.session.scalar(select(Facilitator).filter_by(staff_code=staff_code))
        taken = facilitator is not None and db.session.scalar(
            select(User.id).where(User.facilitator_id == facilitator.id, User.username != username))
        if facilitator is not None and facilitator.region_id == region.id and not taken:
            user.facilitator_id = facilitator.id
    if name and user.facilitator_id is not None:
        # One name for one person on every page (the header, the calendar, a session's team): HMPPS Auth's,
        # brought back at each sign-in, on their facilitator row too.
        facilitator = db.session.get(Facilitator, user.facilitator_id)
        if facilitator is not None and facilitator.name != name:
            facilitator.name = name
    db.session.commit()
    log.info("signed in", extra={"event": "signed_in", "user_id": user.id, "role": role, "region_id": region.id})
    return user


def _region(teams: StaffTeams | None) -> Region | None:
    """The region of the first team in a region this service knows."""
    if teams is None:
        return None
    codes = [team.region_code for team in teams.teams]
    if not codes:
        return None
    known = {r.code: r for r in db.session.scalars(select(Region).where(Region.code.in_(codes)))}
    return next((known[code] for code in codes if code in known), None)


def sign_out(user: User) -> None:
    """End every signed-in session of this user's (their session cookies carry the old version)."""
    user.session_version += 1
    db.session.commit()
