"""redis-py 8 against the proxy, with its default settings (RESP3, HELLO 3 on connect) and
with protocol=2. Usage: redis_py_client.py <proxy port> <other proxy port> [password]

Exits non-zero (an AssertionError or a redis-py exception) on the first wrong answer.
"""
import sys
import threading
import time

import redis
from redis.cluster import RedisCluster

port, other = int(sys.argv[1]), int(sys.argv[2])
assert redis.__version__.startswith("8."), redis.__version__
from redis.utils import DEFAULT_RESP_VERSION  # noqa: E402

assert DEFAULT_RESP_VERSION == 3, DEFAULT_RESP_VERSION


def plain(protocol):
    kw = {} if protocol is None else {"protocol": protocol}
    r = redis.Redis(host="127.0.0.1", port=port, **kw)
    assert r.ping() is True
    # "b" lives on this proxy's half of the cluster.
    assert r.set("b", "1") is True
    assert r.get("b") == b"1"
    assert r.hset("{b}h", mapping={"f": "v"}) == 1
    assert r.hgetall("{b}h") == {b"f": b"v"}
    assert r.mget("b", "{b}x") == [b"1", None]
    assert r.client_setname("py") is True
    assert r.client_getname() in ("py", b"py")
    # A transaction on one slot.
    with r.pipeline(transaction=True) as p:
        p.incr("{b}n").incr("{b}n")
        assert p.execute() == [1, 2]
    # A blocking pop woken by another connection.
    r2 = redis.Redis(host="127.0.0.1", port=port, **kw)
    threading.Timer(0.2, lambda: r2.rpush("{b}q", "x")).start()
    start = time.monotonic()
    assert r.blpop(["{b}q"], timeout=5) in ((b"{b}q", b"x"), [b"{b}q", b"x"])
    assert time.monotonic() - start < 2
    r.delete("b", "{b}h", "{b}n")
    r.close()
    r2.close()


def cluster(protocol):
    kw = {} if protocol is None else {"protocol": protocol}
    rc = RedisCluster(host="127.0.0.1", port=port, **kw)
    assert len(rc.get_primaries()) == 2
    rc.flushall(target_nodes=RedisCluster.PRIMARIES)
    keys = [f"key:{i}" for i in range(200)]
    for k in keys:
        assert rc.set(k, k) is True
    assert [rc.get(k) for k in keys[:5]] == [k.encode() for k in keys[:5]]
    # Totals over both proxies, each answering for its own backends. (redis-py sends a bare
    # dbsize() to its default node only, as against a real Redis Cluster; the fan-out to
    # every primary is what a client asks for totals.)
    prim = RedisCluster.PRIMARIES
    assert rc.dbsize(target_nodes=prim) == 200, rc.dbsize(target_nodes=prim)
    assert rc.dbsize() < 200
    assert sorted(k.decode() for k in rc.scan_iter(count=17)) == sorted(keys)
    assert rc.mget_nonatomic(keys[:50]) == [k.encode() for k in keys[:50]]
    assert rc.delete(*keys) == 200
    assert rc.dbsize(target_nodes=prim) == 0
    rc.close()


for proto in (None, 2, 3):
    plain(proto)
    cluster(proto)
print("redis-py ok")
