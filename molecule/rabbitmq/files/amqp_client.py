#!/usr/bin/python3
"""AMQP 0-9-1 test client for the rabbitmq scenario and benchmark (pika, TLS).

  amqp_client.py publish  --hosts mq1,mq2,mq3 --queue q --count N --out confirmed.txt
  amqp_client.py publish  --hosts ... --queue q --until /tmp/stop --out confirmed.txt
  amqp_client.py consume  --hosts mq2 --queue q --out consumed.txt
  amqp_client.py declare  --hosts mq1 --queue q            (no x-queue-type: the vhost's default)
  amqp_client.py login    --hosts mq1 --user guest --password guest
  amqp_client.py bench    --hosts mq1 --queue q --count N --type quorum [--plain --port 5672]

Publishing uses publisher confirms: a message id is written to --out only
after the broker confirmed it. On a connection or channel error the client
reconnects to the next host and publishes the unconfirmed message again
(counted as a retry); a duplicate on the consumer side is harmless, a
missing confirmed id is a loss. Results are JSON on stdout.
The password comes from --password or the file named by --password-file.
"""

import argparse
import json
import os
import ssl
import sys
import time

import pika
from pika.exceptions import AMQPError, ProbableAuthenticationError

CA = "/etc/ssl/nospof/ca.crt"


def params(host, args):
    ssl_options = None
    if not args.plain:
        context = ssl.create_default_context(cafile=CA)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        ssl_options = pika.SSLOptions(context, server_hostname=host)
    password = args.password
    if password is None and args.password_file:
        with open(args.password_file, encoding="utf-8") as handle:
            password = handle.read().strip()
    return pika.ConnectionParameters(
        host=host, port=args.port, virtual_host="/",
        credentials=pika.PlainCredentials(args.user, password or ""),
        ssl_options=ssl_options,
        connection_attempts=1, socket_timeout=5, blocked_connection_timeout=30, heartbeat=10)


def connect(hosts, args, start=0):
    """(connection, channel, index) on the first host that answers, starting at start."""
    last = None
    for attempt in range(len(hosts) * 20):
        index = (start + attempt) % len(hosts)
        try:
            conn = pika.BlockingConnection(params(hosts[index], args))
            channel = conn.channel()
            return conn, channel, index
        except ProbableAuthenticationError:
            raise
        except (AMQPError, OSError) as exc:
            last = exc
            time.sleep(0.5)
    raise SystemExit("no broker answered: %r" % last)


def declare(channel, queue, qtype=None):
    arguments = {"x-queue-type": qtype} if qtype else None
    channel.queue_declare(queue=queue, durable=True, arguments=arguments)


def publish(args):
    hosts = args.hosts.split(",")
    conn, channel, index = connect(hosts, args)
    channel.confirm_delivery()
    declare(channel, args.queue, args.type)
    confirmed = retries = reconnects = 0
    number = 0
    started = time.monotonic()
    with open(args.out, "w", encoding="utf-8") as out:
        while True:
            if args.until:
                if os.path.exists(args.until):
                    break
            elif number >= args.count:
                break
            body = "%s-%d" % (args.queue, number)
            while True:
                try:
                    channel.basic_publish("", args.queue, body.encode(),
                                          pika.BasicProperties(delivery_mode=2, message_id=body),
                                          mandatory=True)
                    break
                except (AMQPError, OSError):
                    retries += 1
                    reconnects += 1
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001 - the connection is gone either way
                        pass
                    conn, channel, index = connect(hosts, args, index + 1)
                    channel.confirm_delivery()
            out.write(body + "\n")
            out.flush()
            confirmed += 1
            number += 1
            if args.rate:
                time.sleep(1.0 / args.rate)
    took = time.monotonic() - started
    try:
        conn.close()
    except Exception:  # noqa: BLE001
        pass
    print(json.dumps({"confirmed": confirmed, "retries": retries, "reconnects": reconnects,
                      "seconds": round(took, 2)}))


def consume(args):
    """Drain the queue; on a broker error (a leader election after a node died) reconnect and go on."""
    hosts = args.hosts.split(",")
    conn, channel, index = connect(hosts, args)
    seen = set()
    errors = 0
    idle_since = time.monotonic()
    with open(args.out, "w", encoding="utf-8") as out:
        while time.monotonic() - idle_since < args.idle:
            try:
                method, _props, body = channel.basic_get(args.queue, auto_ack=False)
                if method is None:
                    time.sleep(0.2)
                    continue
                idle_since = time.monotonic()
                text = body.decode()
                if text not in seen:
                    seen.add(text)
                    out.write(text + "\n")
                channel.basic_ack(method.delivery_tag)
            except (AMQPError, OSError):
                errors += 1
                if errors > 100:
                    raise
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 - the connection is gone either way
                    pass
                time.sleep(1)
                conn, channel, index = connect(hosts, args, index + 1)
                idle_since = time.monotonic()
    conn.close()
    print(json.dumps({"consumed": len(seen), "errors": errors}))


def login(args):
    try:
        conn = pika.BlockingConnection(params(args.hosts.split(",")[0], args))
    except ProbableAuthenticationError as exc:
        print(json.dumps({"login": False, "error": str(exc)}))
        return 3
    conn.close()
    print(json.dumps({"login": True}))
    return 0


def do_declare(args):
    conn, channel, _ = connect(args.hosts.split(","), args)
    declare(channel, args.queue, args.type)
    conn.close()
    print(json.dumps({"declared": args.queue}))


def bench(args):
    """Publish --count messages with confirms as fast as one channel allows."""
    conn, channel, _ = connect(args.hosts.split(","), args)
    channel.confirm_delivery()
    declare(channel, args.queue, args.type)
    channel.queue_purge(args.queue)
    body = b"x" * args.size
    started = time.monotonic()
    for number in range(args.count):
        channel.basic_publish("", args.queue, body, pika.BasicProperties(delivery_mode=2), mandatory=True)
    took = time.monotonic() - started
    channel.queue_purge(args.queue)
    conn.close()
    print(json.dumps({"messages": args.count, "seconds": round(took, 3),
                      "per_second": round(args.count / took, 1), "size": args.size}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["publish", "consume", "login", "declare", "bench"])
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--port", type=int, default=5671)
    parser.add_argument("--user", default="app")
    parser.add_argument("--password")
    parser.add_argument("--password-file", default="/root/app.password")
    parser.add_argument("--queue", default="test")
    parser.add_argument("--type", help="x-queue-type; default: the vhost's default")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--until", help="publish until this file exists")
    parser.add_argument("--rate", type=float, default=0, help="messages per second (0: as fast as confirms)")
    parser.add_argument("--out", default="/dev/null")
    parser.add_argument("--idle", type=float, default=5.0, help="consume until the queue stays empty this long")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--plain", action="store_true", help="plain AMQP (only for the benchmark's default node)")
    args = parser.parse_args()
    handler = {"publish": publish, "consume": consume, "login": login, "declare": do_declare,
               "bench": bench}[args.action]
    return handler(args) or 0


if __name__ == "__main__":
    sys.exit(main())
