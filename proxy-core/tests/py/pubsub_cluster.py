"""redis-py 8 `RedisCluster` sharded Pub/Sub with its defaults (RESP3) through the proxies.
Usage: pubsub_cluster.py <proxy port>

Shard channels of every backend's slots are subscribed with `RedisCluster.pubsub()` and
published with `spublish`; each message must arrive once. Exits non-zero on a wrong answer.
"""
import sys
import time

import redis
from redis.cluster import RedisCluster

assert redis.__version__.startswith("8."), redis.__version__
port = int(sys.argv[1])
rc = RedisCluster(host="127.0.0.1", port=port)

# One channel per backend: each proxy owns a third of the slots (0-5460, 5461-10922,
# 10923-16383) split between its two backends, so one node connection carries both.
BOUNDS = [0, 2730, 5461, 8192, 10923, 13653, 16384]
channels = {}
n = 0
while len(channels) < 6:
    name = f"sch{n}"
    slot = rc.keyslot(name)
    channels.setdefault(next(i for i in range(6) if slot < BOUNDS[i + 1]), name)
    n += 1

ps = rc.pubsub()
for ch in channels.values():
    ps.ssubscribe(ch)
confirmed = set()
deadline = time.time() + 10
while len(confirmed) < 6 and time.time() < deadline:
    m = ps.get_sharded_message(timeout=0.2)
    if m and m["type"] == "ssubscribe":
        confirmed.add(m["channel"].decode())
assert confirmed == set(channels.values()), confirmed

for ch in channels.values():
    assert rc.spublish(ch, f"to-{ch}") == 1, ch
got = {}
deadline = time.time() + 10
while len(got) < 6 and time.time() < deadline:
    m = ps.get_sharded_message(ignore_subscribe_messages=True, timeout=0.2)
    if m and m["type"] == "smessage":
        ch = m["channel"].decode()
        assert ch not in got, f"twice: {ch}"
        got[ch] = m["data"].decode()
assert got == {ch: f"to-{ch}" for ch in channels.values()}, got
ps.close()
rc.close()
print("redis-py pubsub ok")
