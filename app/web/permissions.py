"""The authorisation matrix: which roles may use each endpoint. This table is the reviewed statement of who may
do what; each view enforces it with `app.web.access.roles(...)`, and tests/web/test_authorisation.py fails when
a route is missing here, when a view's decorator disagrees with this table, or when any cell is not enforced.

PUBLIC endpoints need no sign-in."""
from __future__ import annotations

from app.web.access import EVERYONE, MANAGERS

PUBLIC = frozenset({"static", "auth.login", "auth.start", "auth.callback", "auth.index",
                    "health.health", "health.ping", "health.info",  # probes: /health shows admins its details
                    "calendar.ics",  # the iCalendar feed: its secret link is the key
                    # detailUrls of our domain events: a client-credentials bearer token, checked in the blueprint
                    "events_api.status_change_details", "events_api.completion_data",
                    # the HMPPS subject access request endpoint: a client-credentials token with ROLE_SAR_DATA_ACCESS
                    "sar.subject_access_request",
                    "register.offline_worker"})  # the register's service worker: code, like static files
SIGNED_IN = frozenset({"auth.logout", "auth.keep_alive"})

LEADS = ("lead", "treatment_manager", "admin")

MATRIX: dict[str, tuple[str, ...]] = {
    "groups.index": EVERYONE,
    "groups.show": EVERYONE,
    "sync_state.states": EVERYONE,  # issue 15.6: the tags a register, schedule or calendar keeps up to date
    "groups.new": MANAGERS,
    "groups.start": MANAGERS,
    "groups.edit": MANAGERS,  # issue 15.1: code, cohort, sex, LDC, location, treatment manager
    "groups.close": LEADS,  # issue 15.4: a finished group is closed by a lead (or a manager)
    "operations.show": EVERYONE,
    # calendar (issue 3): everyone sees it read-only; only managers postpone or change days and times
    "calendar.index": EVERYONE,
    "calendar.postpone": MANAGERS,
    "calendar.confirm_postpone": MANAGERS,
    "calendar.resume": MANAGERS,
    "calendar.days_and_times": MANAGERS,
    "calendar.feed_settings": EVERYONE,
    "calendar.create_feed": EVERYONE,
    "calendar.revoke_feed": EVERYONE,
    "history.group": EVERYONE,
    "history.session": EVERYONE,
    # waiting list, allocation, removal, bus stopping, facilitators (issue 6): leads read, managers change
    "referrals.index": LEADS,
    "referrals.find_group": LEADS,
    "referrals.allocate": MANAGERS,
    "membership.allocate": MANAGERS,
    "membership.remove": MANAGERS,
    "facilitators.index": EVERYONE,
    "facilitators.mine": ("facilitator",),
    "facilitators.show": EVERYONE,
    "facilitators.group_team": MANAGERS,
    "facilitators.session_team": MANAGERS,
    # register, catch-ups, one-to-ones (issue 4): everyone may open a register of their region (facilitators only
    # the sessions they facilitate, leads read only; checked per session in the view); facilitators of the session
    # and managers record; managers book catch-ups and one-to-ones
    "register.index": EVERYONE,
    "register.show": EVERYONE,
    "register.print_view": EVERYONE,
    "register.row": EVERYONE,
    "register.offline_token": EVERYONE,  # who is signed in and a CSRF token, before sending waiting changes
    "register.save_row": ("facilitator", *MANAGERS),
    "register.save_notes": ("facilitator", *MANAGERS),
    "register.catch_up": MANAGERS,
    "register.one_to_ones": MANAGERS,
    # one session changed (issue 15.2): cancel, delete a booking made in error, who is expected; managers
    "session_changes.change": MANAGERS,
    "session_changes.cancel": MANAGERS,
    "session_changes.delete": MANAGERS,
    "session_changes.add_attendee": MANAGERS,
    "session_changes.remove_attendee": MANAGERS,
    # progress (issue 4): leads, managers and admins
    "progress.index": LEADS,
    "progress.group": LEADS,
    "progress.export": LEADS,
    # the four standard reports (issue 15.5): CSV downloads for leads, managers and admins, region-scoped
    "reports.index": LEADS,
    "reports.group_size": LEADS,
    "reports.facilitator_continuity": LEADS,
    "reports.session_rate": LEADS,
    "reports.dosage": LEADS,
    # the person's page (issue 14): everyone in the region (restricted people answer 403); managers resolve
    # differences between the referral and nDelius
    "people.show": EVERYONE,
    "people.resolve": MANAGERS,
    # what a person cannot do, recorded before allocating (issue 15.3): everyone sees it on the person's page;
    # managers record and remove it
    "people.needs": MANAGERS,
    "people.add_time": MANAGERS,
    "people.remove_time": MANAGERS,
    "people.add_location": MANAGERS,
    "people.remove_location": MANAGERS,
    "people.add_non_association": MANAGERS,
    "people.remove_non_association": MANAGERS,
    # domain events (issue 14): admins see dead letters, retry or dismiss them, and re-publish refused events
    "events_admin.index": ("admin",),
    "events_admin.retry": ("admin",),
    "events_admin.dismiss": ("admin",),
    "events_admin.retry_outbox": ("admin",),
    # programme template versions (issue 15.10): admins see them (publishing is `flask programme publish`)
    "programmes.index": ("admin",),
    # nDelius integration (issue 5): managers watch the sync, retry failures, act on disagreements
    "integration.index": MANAGERS,
    "integration.retry": MANAGERS,
    "integration.retry_all": MANAGERS,
    "integration.send_ours": MANAGERS,
    "integration.dismiss": MANAGERS,
    "integration.reconcile": MANAGERS,
}
