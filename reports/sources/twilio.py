"""Twilio's Deactivations API: the US numbers carriers deactivated on a day, one number a line (issue 18).

`GET {TWILIO_API_BASE_URL}/v1/Deactivations?Date=YYYY-MM-DD` with HTTP basic auth answers JSON whose
`redirect_to` is a signed URL, valid about two minutes, to the day's file (some clients see a 307 to it
instead). The signed URL is another host's: it is fetched without the Twilio credentials, and neither it nor
the token is ever shown. Data exists from 2020-08-27; a day is published the next day.
"""

import base64
import logging
from datetime import date
from urllib.parse import urljoin, urlsplit

from django.conf import settings
from django.utils import timezone

from reports import sources
from reports.sources import web

log = logging.getLogger(__name__)

API_PATH = "/v1/Deactivations"
BACKFILL_DAYS = 90  # as far back as AWS keeps its files; Twilio keeps more, from FIRST_DAY on
FIRST_DAY = date(2020, 8, 27)
SIGNED_URL_TRIES = 2  # a signed URL that fails (expired): ask for a fresh one once, then fail the report


class TwilioSource(sources.DailyFileSource):
    name = "twilio"
    origin = "twilio"
    label = "Twilio"
    first_day = FIRST_DAY

    def problems(self) -> list[str]:
        problems = [f"{name} is not set" for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
                    if not getattr(settings, name)]  # fmt: skip
        if urlsplit(settings.TWILIO_API_BASE_URL).scheme not in ("http", "https"):
            problems.append("TWILIO_API_BASE_URL is not an http(s) URL")
        return problems

    def days_kept(self) -> int:
        return BACKFILL_DAYS

    def fingerprint(self, day: date) -> str:
        # The account is part of the identity: another account's file for the day is another report.
        return f"twilio:{settings.TWILIO_ACCOUNT_SID}:{day.isoformat()}"

    def location(self, day: date) -> str:
        return web.shown_url(self._api_url(day), keep=["Date"])

    def open_day(self, day: date) -> web.Body:
        self.require_configured()
        if day >= timezone.now().date():
            raise sources.NotReady(f"not ready: Twilio publishes the deactivations of {day} the next day")
        problem = ""
        for attempt in range(1, SIGNED_URL_TRIES + 1):
            signed = self._signed_url(day)
            shown = web.shown_url(signed)
            answer = web.get(signed, headers={}, what="Twilio's signed URL", shown=shown)
            if 200 <= answer.status < 300:
                return web.body(answer, what=f"Twilio's file for {day}")
            problem = f"{answer.status} {answer.reason}".strip()
            message = answer.text(secrets=self._secrets())
            problem += f": {message}" if message else ""
            log.warning("twilio signed url failed day=%s url=%s status=%d attempt=%d", day, shown, answer.status,
                        attempt)  # fmt: skip
        raise sources.Refused(
            f"Twilio's signed URL for {day} failed {SIGNED_URL_TRIES} times, the last with {problem} "
            "(expired, or refused); nothing was applied"
        )

    def _api_url(self, day: date) -> str:
        return f"{settings.TWILIO_API_BASE_URL.rstrip('/')}{API_PATH}?Date={day.isoformat()}"

    def _secrets(self) -> list[str]:
        return [settings.TWILIO_AUTH_TOKEN, self._authorization()]

    def _authorization(self) -> str:
        pair = f"{settings.TWILIO_ACCOUNT_SID}:{settings.TWILIO_AUTH_TOKEN}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def _signed_url(self, day: date) -> str:
        """Ask the API for the day's file: the signed URL from its JSON `redirect_to`, or from a 307."""
        url = self._api_url(day)
        answer = web.get(url, headers={"Authorization": self._authorization(), "Accept": "application/json"},
                         what="Twilio's Deactivations API", shown=self.location(day), follow=False)  # fmt: skip
        if answer.status in web.REDIRECTS:
            signed = answer.headers.get("Location", "")
            answer.close()
        else:
            error = web.refusal(answer, label="Twilio", day=day, secrets=self._secrets())
            if error is not None:
                raise error
            signed = answer.json(what="Twilio's Deactivations API").get("redirect_to")
        if not isinstance(signed, str) or not signed:
            raise sources.Refused(f"Twilio's answer for {day} named no file (no redirect_to) at {self.location(day)}")
        signed = urljoin(url, signed)
        web.check_scheme(signed, what="Twilio's answer")
        return signed


SOURCE = TwilioSource()
