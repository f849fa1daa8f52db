"""The API's per-user throttle. Its own module: DRF imports it while defining APIView."""

from typing import cast

from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle


class UserThrottle(UserRateThrottle):
    """DRF's per-user throttle, reading API_THROTTLE_RATE when a request comes in.

    DRF's own class copies the rates once, at import, so a changed setting would go unseen.
    """

    def get_rate(self) -> str | None:
        # Rates are strings such as "100/hour"; djangorestframework-stubs types them as numbers.
        rates = cast("dict[str | None, str | None]", api_settings.DEFAULT_THROTTLE_RATES)
        return rates.get(self.scope)
