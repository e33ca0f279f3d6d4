"""Counts the SQL statements of each request (BEGIN, SAVEPOINT and COMMIT included) and says how many in a
response header the load generator reads, with the worker's process id (memory is reported per worker, by
the requests it served). Bench settings only: production never loads it."""

import os
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse

HEADER = "X-Bench-Queries"
WORKER_HEADER = "X-Bench-Worker"
# Sent by the "cold" scenarios: every cached fragment is expired before the view, so the page is built as
# the first view after a change builds it (a new message, a rename), never read from the cache.
COLD_HEADER = "HTTP_X_BENCH_COLD"


class QueryCountMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        count = 0

        def counted(execute, sql, params, many, context):
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        if request.META.get(COLD_HEADER) == "1":
            from messaging.fragments import fragments_expire

            fragments_expire()  # at once: no transaction is open here
        with connection.execute_wrapper(counted):
            response = self.get_response(request)
        response[HEADER] = str(count)
        response[WORKER_HEADER] = str(os.getpid())
        return response
