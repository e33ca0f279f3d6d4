"""The cache (Redis in production, the broker's Redis) only saves work: when Redis is down or hung, pages are
rendered afresh and abuse limits go uncounted, rather than every request failing or hanging with it."""

import logging
import time

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

_MISSING = object()


class ResilientRedisCache(RedisCache):
    """Django's RedisCache, where an unreachable Redis is a cache that keeps nothing: reads miss, writes are
    dropped, add() stores nothing, incr() raises ValueError as for a missing key (django-ratelimit then
    follows RATELIMIT_FAIL_OPEN). After a failure the process leaves Redis alone for PAUSE_SECONDS, so a hung
    Redis (its OPTIONS need socket timeouts) costs one timeout per process and pause, not one per call.
    A write dropped meanwhile (a fragments generation bump) can leave a fragment stale until its timeout,
    should Redis come back with its data."""

    PAUSE_SECONDS = 5.0
    paused_until = 0.0  # per process: every cache object of it shares the one Redis

    def _call(self, operation: str, fallback, method, *args):
        if time.monotonic() < ResilientRedisCache.paused_until:
            return fallback
        try:
            return method(*args)
        except redis.RedisError as error:
            ResilientRedisCache.paused_until = time.monotonic() + self.PAUSE_SECONDS
            logger.warning(
                "cache unavailable, left alone for %s s (%s): %s", self.PAUSE_SECONDS, operation, error
            )
            return fallback

    def get(self, key, default=None, version=None):
        return self._call("get", default, super().get, key, default, version)

    def get_many(self, keys, version=None):
        return self._call("get_many", {}, super().get_many, keys, version)

    def has_key(self, key, version=None):
        return self._call("has_key", False, super().has_key, key, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("add", False, super().add, key, value, timeout, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        self._call("set", None, super().set, key, value, timeout, version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set_many", list(data), super().set_many, data, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("touch", False, super().touch, key, timeout, version)

    def incr(self, key, delta=1, version=None):
        value = self._call("incr", _MISSING, super().incr, key, delta, version)
        if value is _MISSING:
            raise ValueError(f"Key '{key}' not found (the cache is unavailable).")
        return value

    def delete(self, key, version=None):
        return self._call("delete", False, super().delete, key, version)

    def delete_many(self, keys, version=None):
        self._call("delete_many", None, super().delete_many, keys, version)

    def clear(self):
        return self._call("clear", False, super().clear)
