"""The one error type every outside service raises: GitHub, the model.

The task that runs a review decides between a retry and a failure from two facts alone:
whether retrying can help (`permanent`), and how long the service asked us to wait
(`retry_after`, seconds, when it said).
"""


class ServiceError(Exception):
    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
