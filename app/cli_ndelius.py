"""`flask ndelius sync` and `flask ndelius reconcile`: the relay and reconciliation in the foreground, for
operators and scripts. Both exit 1 when something could not be done."""
from __future__ import annotations

import sys
import threading
import time

import click
from sqlalchemy import func, select

from app.extensions import db


@click.group("ndelius")
def ndelius_cli() -> None:
    """Keep nDelius in step with our appointments."""


@ndelius_cli.command("sync")
@click.option("--wait", default=180.0, show_default=True,
              help="Seconds to keep retrying changes nDelius could not take for a passing reason "
                   "(down, timing out). 0: one pass only.")
@click.option("--budget", default=600.0, show_default=True,
              help="Seconds the whole command may take: no call is started that could not be answered "
                   "within it; what is left stays queued for the relay.")
def sync(wait: float, budget: float) -> None:
    """Send everything the outbox holds, print a summary; exit 1 if anything is left undone."""
    from app.models import NDeliusAppointment, OutboxItem
    from app.models.base import utcnow
    from app.services import ndelius_sync

    started = time.monotonic()
    ends_at = started + max(0.0, budget)
    deadline = min(started + max(0.0, wait), ends_at)
    total = ndelius_sync.DrainResult()
    while True:
        result = ndelius_sync.drain(budget=max(0.0, ends_at - time.monotonic()))
        for name in ("created", "updated", "deleted", "unchanged", "needs_attention", "batches", "calls"):
            setattr(total, name, getattr(total, name) + getattr(result, name))
        total.circuit_open, total.deferred = result.circuit_open, result.deferred
        due_at = ndelius_sync.next_attempt_at()
        if due_at is None or result.deferred or time.monotonic() >= deadline:
            break
        pause = (due_at - utcnow()).total_seconds()
        threading.Event().wait(min(max(0.2, pause), max(0.0, deadline - time.monotonic()), 5.0))
    total.retrying = db.session.scalar(select(func.count(func.distinct(OutboxItem.appointment_id))).where(
        OutboxItem.status == "pending")) or 0
    click.echo(total.summary() + ".")
    attention = list(db.session.scalars(
        select(NDeliusAppointment).where(NDeliusAppointment.sync_state == "needs_attention")
        .order_by(NDeliusAppointment.id).limit(20)))
    for appointment in attention:
        click.echo(f"  needs attention: {appointment.reference}: {appointment.last_error}")
    if total.retrying:
        click.echo(f"error: {total.retrying} appointments are still waiting for nDelius; they will be retried",
                   err=True)
    if total.needs_attention:
        click.echo(f"error: {total.needs_attention} appointments need attention (see the Integration page)",
                   err=True)
    if total.retrying or total.needs_attention:
        sys.exit(1)


@ndelius_cli.command("reconcile")
@click.option("--region", "region_code", default=None, help="Only this region's appointments (its code).")
def reconcile(region_code: str | None) -> None:
    """Compare our appointments with what nDelius shows and record the disagreements; exit 1 if any search
    failed (those appointments' disagreements are left as they were)."""
    from app.models import NDeliusDisagreement, Region
    from app.services import ndelius_reconcile

    region_id = None
    if region_code is not None:
        region_id = db.session.scalar(select(Region.id).where(Region.code == region_code))
        if region_id is None:
            raise click.BadParameter(f"no region with code {region_code!r}", param_hint="--region")
    started = time.monotonic()
    run = ndelius_reconcile.reconcile(region_id=region_id)
    seconds = time.monotonic() - started
    still_open = db.session.scalar(select(func.count(NDeliusDisagreement.id)).where(
        NDeliusDisagreement.resolved_at.is_(None))) or 0
    click.echo(f"Compared {run.compared} appointments with nDelius ({run.found} found there) in {run.searches} "
               f"searches and {seconds:.1f} s: {run.new} new disagreements, {run.resolved} resolved, "
               f"{still_open} open.")
    if run.error:
        click.echo(f"error: reconciliation incomplete: {run.error}", err=True)
        sys.exit(1)
