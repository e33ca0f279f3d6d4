"""The production settings plus what only the bench needs: a per-request query count and two baselines.

gunicorn serves `config.wsgi:application` with DJANGO_SETTINGS_MODULE=bench.settings. BENCH_BARE=1 gives the
"bare Django" baseline: no middleware, no database, one view.
"""

import os

from config.settings import *  # noqa: F403
from config.settings import MIDDLEWARE

# The load generator is one person sending hundreds of requests a second: the limits stay on (their cost is
# measured), with rates no scenario reaches.
RATE_LIMITS = dict.fromkeys(("send", "upload", "search", "connect", "inbound"), "100000000/m")

if os.environ.get("BENCH_BARE") == "1":
    MIDDLEWARE = []
    ROOT_URLCONF = "bench.urls_bare"
else:
    # Outermost, so the queries of every other middleware (session, user, organization) are counted too.
    MIDDLEWARE = ["bench.middleware.QueryCountMiddleware", *MIDDLEWARE]
    ROOT_URLCONF = "bench.urls"
