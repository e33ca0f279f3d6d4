from tests.workers import broker, in_process_worker, workers  # noqa: F401

from .smtp import smtp_server  # noqa: F401
