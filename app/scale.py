"""`flask demo scale`: national volume for benchmarks, written with bulk inserts (COPY on PostgreSQL).

About 6,000 programme starts a year in 12 regions; `--groups 5000` with 12 people each is roughly ten years:
60,000 referrals and 1.6 million attendance rows. Sessions before today have attendance recorded; the stored
progress is written to match it (so `flask progress verify` passes)."""
from __future__ import annotations

import random
import time as clock_time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select, text

from app import clock
from app.extensions import db
from app.models import (
    Attendance,
    Attendee,
    Facilitator,
    Group,
    GroupFacilitator,
    GroupSlot,
    Membership,
    Referral,
    ReferralProgress,
    Region,
    Session,
    SessionFacilitator,
    TemplateCompletion,
    User,
)
from app.scheduling import Slot, generate
from app.services.bank_holidays import holiday_dates
from app.services.programme import ensure_building_choices, programme_spec, session_templates_by_key

REGION_COUNT = 12
GROUP_SIZE = 12
FACILITATORS_PER_REGION = 24
OUTCOMES = ["ATTC"] * 17 + ["UAAB", "AFTC", "AAME"]
SLOT_CHOICES = [Slot(d, time(h)) for d in range(5) for h in (9, 10, 13, 14)]


class Bulk:
    """Append rows per table and write them in one go: COPY on PostgreSQL, executemany elsewhere."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[Sequence[str], list[tuple]]] = {}
        self.next_ids: dict[str, int] = {}

    def next_id(self, model: type[Any]) -> int:
        table = model.__table__.name
        if table not in self.next_ids:
            self.next_ids[table] = (db.session.scalar(select(func.max(model.id))) or 0) + 1
        value = self.next_ids[table]
        self.next_ids[table] = value + 1
        return value

    def add(self, model: type[Any], columns: Sequence[str], row: tuple) -> None:
        table = model.__table__.name
        self.rows.setdefault(table, (columns, []))[1].append(row)

    def flush(self, order: Iterable) -> int:
        written = 0
        connection = db.session.connection()
        for model in order:
            table = model.__table__.name
            if table not in self.rows:
                continue
            columns, rows = self.rows.pop(table)
            written += len(rows)
            if connection.dialect.name == "postgresql":
                cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                model_table = model.__table__
                connection.execute(model_table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
        return written


ORDER = [Region, Facilitator, User, Referral, Group, GroupSlot, GroupFacilitator, Membership, Session,
         SessionFacilitator, Attendee, Attendance, TemplateCompletion, ReferralProgress]


def generate_scale(groups: int, *, seed: int = 1, years: int = 10,
                   report: Callable[[str], None] = print) -> dict[str, int]:
    started = clock_time.monotonic()
    rng = random.Random(seed)
    template = ensure_building_choices()
    spec = programme_spec(template)
    by_key = session_templates_by_key(template)
    module_of = {st.id: st.module_id for st in by_key.values()}
    per_module: dict[int, int] = {}
    for st in by_key.values():
        per_module[st.module_id] = per_module.get(st.module_id, 0) + 1
    total_templates = len(by_key)
    today = clock.today()
    now_local = clock.now_local()
    now_utc = datetime.now(UTC)
    first_start = today - timedelta(days=365 * years)
    holidays = holiday_dates(first_start, years_ahead=years + 2)
    bulk = Bulk()
    counts: dict[str, int] = {}

    if db.session.scalar(select(Region.id).where(Region.code == "S01")):
        raise ValueError("the scale dataset is already there (regions S01–S12)")
    regions: list[int] = []
    facilitators: dict[int, list[int]] = {}
    managers: dict[int, int] = {}
    for n in range(1, REGION_COUNT + 1):
        region_id = bulk.next_id(Region)
        regions.append(region_id)
        bulk.add(Region, ("id", "code", "name"), (region_id, f"S{n:02d}", f"Scale region {n}"))
        facilitators[region_id] = []
        for f in range(FACILITATORS_PER_REGION):
            fid = bulk.next_id(Facilitator)
            facilitators[region_id].append(fid)
            bulk.add(Facilitator, ("id", "region_id", "name", "staff_code", "team_code", "email"),
                     (fid, region_id, f"Facilitator {n}-{f}", f"S{n:02d}F{f:03d}", f"S{n:02d}T1",
                      f"f{f}.s{n}@example.gov.uk"))
        for prefix, role in (("tm", "treatment_manager"), ("lead", "lead"), ("fac", "facilitator")):
            uid = bulk.next_id(User)
            if role == "treatment_manager":
                managers[region_id] = uid
            bulk.add(User, ("id", "username", "name", "role", "region_id", "facilitator_id",
                            "active", "session_version"),
                     (uid, f"{prefix}.s{n:02d}", f"{role} {n}", role, region_id,
                      facilitators[region_id][0] if role == "facilitator" else None, True, 1))

    span_days = (today - first_start).days + 180
    for g in range(groups):
        region_id = regions[g % REGION_COUNT]
        start = first_start + timedelta(days=rng.randrange(span_days))
        slots = sorted(rng.sample(SLOT_CHOICES[:8], 1) if rng.random() < 0.6 else _two_slots(rng))
        try:
            planned = generate(spec, slots, start, holidays)
        except ValueError:
            planned = generate(spec, slots[:1], start, holidays)
        group_id = bulk.next_id(Group)
        cohort = "general" if rng.random() < 0.8 else "sexual"
        sex = "male" if rng.random() < 0.9 else "female"
        lead, cover = rng.sample(facilitators[region_id], 2)
        started_at = datetime.combine(start, time(9), UTC) if start <= today else None
        bulk.add(Group, ("id", "region_id", "code", "cohort", "learning_disability", "sex", "delivery_location",
                         "location_code", "earliest_start_date", "started_at", "template_id", "treatment_manager_id",
                         "created_at", "created_by_id", "version"),
                 (group_id, region_id, f"SC{g:05d}", cohort, rng.random() < 0.1, sex, f"Office {g % 40}", None,
                  start, started_at, template.id, managers[region_id], now_utc, managers[region_id], 1))
        for slot in slots:
            bulk.add(GroupSlot, ("id", "group_id", "day_of_week", "start_time"),
                     (bulk.next_id(GroupSlot), group_id, slot.weekday, slot.start))
        for fid, role in ((lead, "lead"), (cover, "cover")):
            bulk.add(GroupFacilitator, ("id", "group_id", "facilitator_id", "role"),
                     (bulk.next_id(GroupFacilitator), group_id, fid, role))
        members = []
        for _ in range(GROUP_SIZE):
            rid = bulk.next_id(Referral)
            licence = rng.random() < 0.4
            bulk.add(Referral, ("id", "region_id", "crn", "person_name", "sex", "cohort", "learning_disability",
                                "requirement_id", "licence_condition_id", "sentence_end_date", "status",
                                "created_at"),
                     (rid, region_id, f"S{rid:07d}", f"Person {rid}", sex, cohort, False,
                      None if licence else 3_000_000 + rid, 4_000_000 + rid if licence else None,
                      start + timedelta(days=600), "Scheduled", now_utc))
            mid = bulk.next_id(Membership)
            bulk.add(Membership, ("id", "group_id", "referral_id", "joined_at", "left_at", "left_reason",
                                  "added_by_id"),
                     (mid, group_id, rid, datetime.combine(start - timedelta(days=14), time(9), UTC), None, None,
                      managers[region_id]))
            members.append((rid, mid))
        if started_at is None:
            for rid, _ in members:
                _progress(bulk, rid, set(), per_module, module_of, total_templates, [0, 0, 0])
            continue
        completed: dict[int, set[int]] = {rid: set() for rid, _ in members}
        outcomes: dict[int, list[int]] = {rid: [0, 0, 0] for rid, _ in members}
        for item in planned:
            st = by_key[(item.module_number, item.session_number)]
            sid = bulk.next_id(Session)
            bulk.add(Session, ("id", "group_id", "session_template_id", "kind", "parent_id", "starts_at", "ends_at",
                               "location", "status", "notes", "version", "created_at"),
                     (sid, group_id, st.id, "scheduled", None, item.starts_at, item.ends_at, f"Office {g % 40}",
                      "scheduled", None, 1, now_utc))
            for fid, role in ((lead, "lead"), (cover, "cover")):
                bulk.add(SessionFacilitator, ("id", "session_id", "facilitator_id", "role"),
                         (bulk.next_id(SessionFacilitator), sid, fid, role))
            past = item.starts_at < now_local
            for rid, mid in members:
                aid = bulk.next_id(Attendee)
                bulk.add(Attendee, ("id", "session_id", "referral_id", "membership_id"), (aid, sid, rid, mid))
                if not past:
                    continue
                outcome = rng.choice(OUTCOMES)
                tally = outcomes[rid]
                tally[0] += 1
                tally[1] += outcome in ("ATTC", "AFTC")
                tally[2] += outcome == "ATTC"
                bulk.add(Attendance, ("id", "attendee_id", "outcome", "did_not_engage", "arrived_at",
                                      "departed_at", "notes", "recorded_at", "recorded_by_id", "version"),
                         (bulk.next_id(Attendance), aid, outcome, False, None, None, None, now_utc,
                          managers[region_id], 1))
                if outcome == "ATTC" and st.id not in completed[rid]:
                    completed[rid].add(st.id)
                    bulk.add(TemplateCompletion, ("id", "referral_id", "session_template_id", "attendee_id"),
                             (bulk.next_id(TemplateCompletion), rid, st.id, aid))
        for rid, _ in members:
            _progress(bulk, rid, completed[rid], per_module, module_of, total_templates, outcomes[rid])
        if (g + 1) % 250 == 0 or g + 1 == groups:
            for table, (_, rows) in bulk.rows.items():
                counts[table] = counts.get(table, 0) + len(rows)
            bulk.flush(ORDER)
            report(f"{g + 1}/{groups} groups written ({clock_time.monotonic() - started:.0f} s)")
    for table, (_, rows) in bulk.rows.items():
        counts[table] = counts.get(table, 0) + len(rows)
    bulk.flush(ORDER)
    _reset_sequences()
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")  # planner statistics for the freshly loaded tables
    counts["seconds"] = int(clock_time.monotonic() - started)
    return counts


def _two_slots(rng: random.Random) -> list[Slot]:
    first = rng.choice([Slot(0, time(10)), Slot(1, time(10)), Slot(0, time(14))])
    return [first, Slot(first.weekday + 3, first.start)]


def _progress(bulk: Bulk, rid: int, done: set[int], per_module: dict[int, int], module_of: dict[int, int],
              total: int, outcomes: list[int]) -> None:
    modules_done: dict[int, int] = {}
    for st in done:
        modules_done[module_of[st]] = modules_done.get(module_of[st], 0) + 1
    bulk.add(ReferralProgress, ("referral_id", "sessions_completed", "sessions_total", "modules_completed", "percent",
                                "complete", "outcomes_recorded", "outcomes_attended", "outcomes_complied"),
             (rid, len(done), total, sum(1 for m, n in per_module.items() if modules_done.get(m, 0) >= n),
              100 * len(done) // total, len(done) == total, *outcomes))


def _reset_sequences() -> None:
    if db.session.connection().dialect.name != "postgresql":
        return
    for model in ORDER:
        if model is ReferralProgress:
            continue
        table = cast(Table, model.__table__).name
        db.session.execute(text(
            # Table names come from our own model metadata, never from input.
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 1))"  # nosec B608
        ))
