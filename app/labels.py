"""Every word the service shows for a code, in one place: the attendance outcomes, the kinds of session and
the nDelius sync states, in the real service's wording (HMPPS Manage and Deliver: "Attended", "Attended but failed to comply", "Did
not attend", "To be confirmed" for nothing recorded). Pages (through `labels` in every template), CSV exports
and the texts sent to or compared with nDelius all read these; no template keeps a dictionary of its own.

Plain values only (no Flask, no database), so the pure core and the models may import it too."""
from __future__ import annotations

from dataclasses import dataclass

NOT_RECORDED = "To be confirmed"


@dataclass(frozen=True)
class OutcomeWording:
    label: str
    """What a page, a CSV or a note calls it."""
    short: str
    """On a register button, where the group of buttons already says what it is about."""
    symbol: str
    """A text mark beside the colour (colour is never the only signal)."""


OUTCOMES: dict[str, OutcomeWording] = {
    "ATTC": OutcomeWording("Attended", "Attended", "✓"),
    "AFTC": OutcomeWording("Attended but failed to comply", "Attended but failed to comply", "!"),
    "UAAB": OutcomeWording("Did not attend", "Did not attend", "✗"),
    "AAME": OutcomeWording("Acceptable absence – medical", "Medical", "A"),
    "AARE": OutcomeWording("Acceptable absence – religious", "Religious", "A"),
    "AAFC": OutcomeWording("Acceptable absence – family or childcare", "Family or childcare", "A"),
    "AAEM": OutcomeWording("Acceptable absence – employment", "Employment", "A"),
    "AACL": OutcomeWording("Acceptable absence – court or legal", "Court or legal", "A"),
    "AAAA": OutcomeWording("Acceptable absence – other", "Other reason", "A"),
}
OUTCOME_LABELS = {code: w.label for code, w in OUTCOMES.items()}
OUTCOME_SHORT = {code: w.short for code, w in OUTCOMES.items()}
OUTCOME_SYMBOLS = {code: w.symbol for code, w in OUTCOMES.items()}


def outcome_label(code: str | None) -> str:
    """The outcome's wording; nothing recorded (or a code we do not know) is "To be confirmed"."""
    wording = OUTCOMES.get(code or "")
    return wording.label if wording else NOT_RECORDED


def session_kind(kind: str, session_type: str) -> tuple[str, str]:
    """(css modifier, label) of a session: a catch-up, a booked one-to-one, the group's one-to-one slot (a
    one-to-one session of the template, against which each person's one-to-one is booked) or a group session."""
    if kind == "catch_up":
        return "catch-up", "Catch-up"
    if kind == "one_to_one":
        return "one-to-one", "One-to-one"
    if session_type == "one_to_one":
        return "one-to-one", "One-to-one slot"
    return "group", "Group"


@dataclass(frozen=True)
class SyncStateWording:
    label: str
    """What every page calls the state (the register row, the schedule, the calendar, the integration page)."""
    look: str
    """The look of its tag (app.css `app-sync--…`)."""


# "needs_outcome": the session has happened and someone's outcome is not recorded, so nDelius cannot be told (it
# takes no past appointment without one): the facilitator's job, not an nDelius problem, and retrying does not
# help. The keys are app.services.ndelius_status's shown states.
SYNC_STATES: dict[str, SyncStateWording] = {
    "synced": SyncStateWording("In nDelius", "synced"),
    "pending": SyncStateWording("Waiting to send to nDelius", "pending"),
    "needs_outcome": SyncStateWording("Needs attention: record the outcome", "failed"),
    "needs_attention": SyncStateWording("Needs attention", "failed"),
    "deleted": SyncStateWording("Removed from nDelius", "offline"),
}
SYNC_LABELS = {state: w.label for state, w in SYNC_STATES.items()}
SYNC_LOOKS = {state: w.look for state, w in SYNC_STATES.items()}
