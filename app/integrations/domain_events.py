"""The HMPPS domain events broker: an SNS topic we publish to and an SQS queue (subscribed to the topic) we
consume, through boto3. HTTP only, no business rules.

Locally (``make run``, tests) ``AWS_ENDPOINT_URL`` points at a real SNS/SQS server (moto in server mode) and
``provision`` creates the topic, the queue, its dead-letter queue and the filtered subscription; in AWS they are
made by the platform (HMPPS's ``hmpps-domain-events`` topic and a queue per consumer).
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

# What our queue is subscribed to (an SNS filter policy on the eventType message attribute).
CONSUMED_EVENT_TYPES = (
    "interventions.community-referral.created",
    "interventions.community-referral.imported",
    "probation-case.merge.completed",
)
# Errors that mean "the broker could not take it now" rather than "this request is wrong".
_TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ServiceUnavailable", "InternalError", "InternalFailure",
                    "RequestTimeout", "KMSThrottlingException"}


class BrokerError(Exception):
    """The broker refused or failed. ``transient`` says whether trying again later may help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Received:
    """One SQS message: its receipt (to delete it), how often it has been received, and its body."""

    receipt_handle: str
    receive_count: int
    body: str
    sqs_message_id: str


def _error(exc: Exception, what: str) -> BrokerError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return BrokerError(f"{what}: {code} {exc.response.get('Error', {}).get('Message', '')}".strip(),
                           transient=code in _TRANSIENT_CODES or status >= 500)
    if isinstance(exc, EndpointConnectionError):
        return BrokerError(f"{what}: the SNS/SQS endpoint cannot be reached ({exc})", transient=True)
    return BrokerError(f"{what}: {type(exc).__name__}: {exc}", transient=True)


class Broker:
    def __init__(self, *, endpoint_url: str | None, region: str, topic_arn: str, queue_url: str, dlq_url: str,
                 connect_timeout: float = 2, read_timeout: float = 25) -> None:
        self.topic_arn, self.queue_url, self.dlq_url = topic_arn, queue_url, dlq_url
        kwargs: dict[str, Any] = {"region_name": region, "config": BotoConfig(
            connect_timeout=connect_timeout, read_timeout=read_timeout, retries={"max_attempts": 1})}
        if endpoint_url:
            # A local server takes any credentials; AWS uses the standard credential chain.
            kwargs.update(endpoint_url=endpoint_url, aws_access_key_id="local", aws_secret_access_key="local")
        self.sns = boto3.client("sns", **kwargs)
        self.sqs = boto3.client("sqs", **kwargs)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Broker:
        return cls(endpoint_url=config.get("AWS_ENDPOINT_URL"), region=config["AWS_REGION"],
                   topic_arn=config["DOMAIN_EVENTS_TOPIC_ARN"], queue_url=config["DOMAIN_EVENTS_QUEUE_URL"],
                   dlq_url=config["DOMAIN_EVENTS_DLQ_URL"])

    # publishing ---------------------------------------------------------------------------------------------
    def publish(self, message: Mapping[str, Any]) -> str:
        """Publish one HMPPS domain event; the SNS MessageId. The eventType also goes as a message attribute,
        which is what HMPPS subscriptions filter on."""
        try:
            answer = self.sns.publish(
                TopicArn=self.topic_arn, Message=json.dumps(message),
                MessageAttributes={"eventType": {"DataType": "String", "StringValue": str(message["eventType"])}})
        except (BotoCoreError, ClientError) as exc:
            raise _error(exc, "publish") from exc
        return str(answer["MessageId"])

    # consuming ----------------------------------------------------------------------------------------------
    def receive(self, *, max_messages: int = 10, wait_seconds: int = 10) -> list[Received]:
        try:
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=max_messages, WaitTimeSeconds=wait_seconds,
                AttributeNames=["ApproximateReceiveCount"])
        except (BotoCoreError, ClientError) as exc:
            raise _error(exc, "receive") from exc
        return [Received(m["ReceiptHandle"], int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
                         m["Body"], m["MessageId"]) for m in answer.get("Messages", [])]

    def delete(self, message: Received) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle)
        except (BotoCoreError, ClientError) as exc:
            raise _error(exc, "delete") from exc

    def retry_later(self, message: Received, seconds: int) -> None:
        """Leave the message on the queue, to be received again after ``seconds``."""
        try:
            self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle,
                                               VisibilityTimeout=max(0, min(seconds, 43200)))
        except (BotoCoreError, ClientError) as exc:
            raise _error(exc, "change visibility") from exc

    def dead_letter(self, body: str, reason: str) -> None:
        """Copy a message that cannot be processed to the dead-letter queue (the caller then deletes it)."""
        try:
            self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=body, MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"}})
        except (BotoCoreError, ClientError) as exc:
            raise _error(exc, "dead-letter") from exc

    def requeue(self, body: str) -> None:
        """Put a message back on our queue (an admin's retry of a dead letter)."""
        try:
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)
        except (BotoCoreError, ClientError) as exc:
            raise _error(exc, "requeue") from exc

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting on the queue and on the dead-letter queue (for the integration page)."""
        depths = {}
        for name, url in (("queue", self.queue_url), ("dead_letter_queue", self.dlq_url)):
            try:
                attributes = self.sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            except (BotoCoreError, ClientError) as exc:
                raise _error(exc, "queue attributes") from exc
            depths[name] = int(attributes.get("ApproximateNumberOfMessages", 0))
        return depths

    # local set-up -------------------------------------------------------------------------------------------
    def provision(self, *, visibility_timeout: int = 30, max_receives: int = 5) -> dict[str, str]:
        """Create the topic, the dead-letter queue, our queue (redriving to the DLQ after a few more receives
        than the listener allows itself, as a backstop) and the filtered subscription. Idempotent."""
        topic_name = self.topic_arn.rsplit(":", 1)[-1]
        topic_arn = self.sns.create_topic(Name=topic_name)["TopicArn"]
        dlq_url = self.sqs.create_queue(QueueName=self.dlq_url.rstrip("/").rsplit("/", 1)[-1])["QueueUrl"]
        dlq_arn = self.sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = self.sqs.create_queue(
            QueueName=self.queue_url.rstrip("/").rsplit("/", 1)[-1],
            Attributes={"VisibilityTimeout": str(visibility_timeout), "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives + 2)})})["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        existing = self.sns.list_subscriptions_by_topic(TopicArn=topic_arn).get("Subscriptions", [])
        if not any(s.get("Endpoint") == queue_arn for s in existing):
            self.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={
                "FilterPolicy": json.dumps({"eventType": list(CONSUMED_EVENT_TYPES)})})
        self.topic_arn, self.queue_url, self.dlq_url = topic_arn, queue_url, dlq_url
        return {"topic_arn": topic_arn, "queue_url": queue_url, "dlq_url": dlq_url}
