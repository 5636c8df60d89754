"""A Haiway service that places orders with a tidings service over NATS and waits for replies.

Events travel through Haiway's own bus (``ctx.send`` / ``ctx.subscribe``) on this side and
through tidings's bus on the other; two small bridge tasks here connect Haiway's bus to NATS,
speaking the wire protocol in the README ("Wire protocol for other clients"):

- ``OrderPlaced`` events sent on Haiway's bus are published as JSON (field names as in the
  Rust struct) to ``orders.placed`` (core) or ``orders.durable.placed`` (JetStream, with a
  ``Nats-Msg-Id`` so a retried publish is stored once);
- confirmations from tidings (``orders.confirmed`` / ``orders.durable.confirmed``) are decoded
  and sent into Haiway's bus as ``OrderConfirmed``; a subscriber there collects them.

Run against ``cargo run --features nats --example nats_orders_service -- <url> <mode>``::

    python haiway_orders.py nats://127.0.0.1:4222 core 100
    python haiway_orders.py nats://127.0.0.1:4222 jetstream 100

Exits 0 and prints ``confirmed <n>/<n>`` once every order was confirmed; exits 1 on timeout.
Needs Python >= 3.12, ``haiway>=0.48`` and ``nats-py``.
"""

import asyncio
import json
import sys

import nats
from haiway import State, ctx
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError


class OrderPlaced(State):
    id: int
    item: str


class OrderConfirmed(State):
    id: int
    item: str
    by: str


SUBJECTS = {
    "core": ("orders.placed", "orders.confirmed"),
    "jetstream": ("orders.durable.placed", "orders.durable.confirmed"),
}


async def ensure_stream(js, name: str, subject: str) -> None:
    """What a publisher creates before any tidings process has run: the stream (the bridge
    would create it the same way, and uses an existing one as it is)."""
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=name, subjects=[subject]))


async def orders_to_nats(nc, js, subject: str) -> None:
    """Haiway's bus -> NATS: every OrderPlaced sent in this scope is published as JSON."""
    async for order in ctx.subscribe(OrderPlaced):
        payload = json.dumps({"id": order.id, "item": order.item}).encode()
        if js is None:
            await nc.publish(subject, payload)
        else:
            # Retries with the same id are stored once by the stream.
            await js.publish(subject, payload, headers={"Nats-Msg-Id": f"haiway-order-{order.id}"})


async def confirmations_from_nats(nc, js, subject: str, ready: asyncio.Event) -> None:
    """NATS -> Haiway's bus: confirmations from tidings become OrderConfirmed events."""

    async def deliver(msg) -> None:
        try:
            data = json.loads(msg.data)
            ctx.send(OrderConfirmed(id=data["id"], item=data["item"], by=data["by"]))
        except (ValueError, KeyError) as error:  # what tidings does too: log, skip
            print(f"malformed confirmation skipped: {error}", file=sys.stderr)
        if js is not None:
            await msg.ack()

    if js is None:
        await nc.subscribe(subject, cb=deliver)
        await nc.flush()
    else:
        await ensure_stream(js, "PY_CONFIRMATIONS", subject)
        await js.subscribe(subject, durable="haiway-confirmations", cb=deliver, manual_ack=True)
    ready.set()
    await asyncio.Event().wait()  # until cancelled


async def main(url: str, mode: str, count: int) -> int:
    placed, confirmed = SUBJECTS[mode]
    nc = await nats.connect(url)
    js = nc.jetstream() if mode == "jetstream" else None
    if js is not None:
        await ensure_stream(js, "PY_ORDERS", placed)
    async with ctx.scope("orders"):
        seen: set[int] = set()
        done = asyncio.Event()

        async def collect() -> None:
            async for confirmation in ctx.subscribe(OrderConfirmed):
                if confirmation.by == "tidings":
                    seen.add(confirmation.id)
                if len(seen) == count:
                    done.set()

        ready = asyncio.Event()
        # Subscribe before spawning anything that sends (Haiway keeps events from the moment
        # subscribe() returns), so nothing is missed.
        collector = ctx.spawn(collect)
        publisher = ctx.spawn(orders_to_nats, nc, js, placed)
        receiver = ctx.spawn(confirmations_from_nats, nc, js, confirmed, ready)
        await ready.wait()
        await asyncio.sleep(0.1)  # let the subscribing tasks start
        for i in range(count):
            ctx.send(OrderPlaced(id=i, item=f"tea #{i}"))
        try:
            await asyncio.wait_for(done.wait(), timeout=60)
            status = 0
        except TimeoutError:
            status = 1
        print(f"confirmed {len(seen)}/{count}")
        for task in (collector, publisher, receiver):
            task.cancel()
    await nc.drain()
    return status


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222"
    mode = sys.argv[2] if len(sys.argv) > 2 else "core"
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    sys.exit(asyncio.run(main(url, mode, count)))
