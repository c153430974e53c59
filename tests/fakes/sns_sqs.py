"""A local SNS/SQS server: moto in server mode (real HTTP, the real AWS wire protocol, boto3 talks to it as
to AWS). Not an in-process mock: the service, the listener and the tests reach it over the network.

Run it:      python -m tests.fakes.sns_sqs --port 9093
Import it:   server = start_local_sns_sqs(); ...; server.stop()

``observer_queue`` subscribes an extra queue to every event on the topic, so a test (or a person) can see what
was published: ``server.published(url)``.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "eu-west-2"


class LocalSnsSqs:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per SQS poll otherwise
        self.server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)

    def start(self) -> LocalSnsSqs:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        host, port = self.server.get_host_and_port()
        return f"http://{host}:{port}"

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name=REGION, aws_access_key_id="local",
                            aws_secret_access_key="local")

    def reset(self) -> None:
        """Forget every topic and queue (moto's reset endpoint)."""
        import requests

        requests.post(self.url + "/moto-api/reset", timeout=5)

    def observer_queue(self, topic_arn: str, name: str = "observer") -> str:
        sqs, sns = self.client("sqs"), self.client("sns")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
        return url

    def published(self, queue_url: str, wait_seconds: int = 0) -> list[dict[str, Any]]:
        """Drain a queue subscribed to the topic: each HMPPS message (the SNS envelope's Message, parsed), with
        the envelope's eventType attribute under ``_attributes``."""
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        while True:
            answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds)
            batch = answer.get("Messages", [])
            if not batch:
                return messages
            for m in batch:
                envelope = json.loads(m["Body"])
                message = json.loads(envelope["Message"])
                message["_attributes"] = {k: v.get("Value") for k, v in envelope.get("MessageAttributes", {}).items()}
                messages.append(message)
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            wait_seconds = 0

    def send_event(self, topic_arn: str, message: dict[str, Any]) -> str:
        """Publish a domain event on the topic as another HMPPS service would; the SNS MessageId."""
        answer = self.client("sns").publish(
            TopicArn=topic_arn, Message=json.dumps(message),
            MessageAttributes={"eventType": {"DataType": "String", "StringValue": message["eventType"]}})
        return str(answer["MessageId"])


def start_local_sns_sqs(port: int = 0, host: str = "127.0.0.1") -> LocalSnsSqs:
    return LocalSnsSqs(host, port).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local SNS/SQS server (moto)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9093)
    args = parser.parse_args(argv)
    server = start_local_sns_sqs(args.port, args.host)
    print(f"local SNS/SQS listening on {server.url}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    main()
