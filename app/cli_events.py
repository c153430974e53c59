"""`flask events …`: the domain events plumbing from the command line."""
from __future__ import annotations

import sys

import click
from flask import current_app

from app.integrations.domain_events import Broker, BrokerError


@click.group("events")
def events_cli() -> None:
    """HMPPS domain events (SNS/SQS)."""


@events_cli.command("provision")
def provision() -> None:
    """Create the topic, our queue, its dead-letter queue and the subscription (local SNS/SQS server)."""
    config = current_app.config
    try:
        made = Broker.from_config(config).provision(
            visibility_timeout=config["DOMAIN_EVENTS_VISIBILITY_TIMEOUT"],
            max_receives=config["DOMAIN_EVENTS_MAX_RECEIVES"])
    except BrokerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"topic {made['topic_arn']}\nqueue {made['queue_url']}\ndead-letter queue {made['dlq_url']}")


@events_cli.command("publish")
def publish() -> None:
    """Publish what the domain-event outbox holds now."""
    from app.services import events_publish

    result = events_publish.drain(budget=None)
    click.echo(f"{result.sent} published, {result.retrying} waiting for the broker, "
               f"{result.needs_attention} need attention")
    sys.exit(1 if result.broker_down or result.needs_attention else 0)
