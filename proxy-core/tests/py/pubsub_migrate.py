"""redis-py 8 `RedisCluster` sharded Pub/Sub across a slot move, with its defaults.
Usage: pubsub_migrate.py <channel> <port A> <line A> <port B> <line B> <port C> <line C>

Subscribes to a shard channel of proxy A, then gives every proxy the SETCLUSTER line that
moves the channel's slot to B: A's `sunsubscribe` push makes redis-py resubscribe at B, and
a message published after the move arrives. Exits non-zero on a wrong answer.
"""
import sys
import time

import redis
from redis.cluster import RedisCluster

assert redis.__version__.startswith("8."), redis.__version__
channel = sys.argv[1]
moves = [(int(sys.argv[i]), sys.argv[i + 1]) for i in (2, 4, 6)]
rc = RedisCluster(host="127.0.0.1", port=moves[0][0])
ps = rc.pubsub()
ps.ssubscribe(channel)


def wait_for(kind, data=None, publish=None, secs=15):
    deadline = time.time() + secs
    next_pub = 0.0
    while time.time() < deadline:
        if publish and time.time() >= next_pub:
            rc.spublish(channel, publish)
            next_pub = time.time() + 0.3
        m = ps.get_sharded_message(timeout=0.1)
        if m and m["type"] == kind and (data is None or m["data"] == data):
            return m
    raise AssertionError(f"no {kind} {data!r}")


wait_for("ssubscribe")
assert rc.spublish(channel, "before") == 1
wait_for("smessage", b"before")
for port, line in moves:
    assert redis.Redis(port=port).execute_command("UMCTL", "SETCLUSTER", *line.split())
# The message reaches the subscriber only once it resubscribed at B.
wait_for("smessage", b"after", publish="after")
ps.close()
rc.close()
print("redis-py migrate ok")
