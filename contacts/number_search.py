"""Number searches kept out of URLs, and so out of access logs, browser history and Referer headers (R12).

A search form posts the number; the answer redirects to a URL whose `q` is a token standing for it, and the
token is resolved from the staff member's session. The token is a keyed hash of the number, so searching
the same number again gives the same URL, and nothing in the URL can be turned back into the number.
"""

import re

from django.http import HttpRequest, HttpResponseRedirect
from django.utils.crypto import salted_hmac

from contacts import phones

SESSION_KEY = "number_searches"
PREFIX = "n-"
TOKEN = re.compile(rf"{PREFIX}[0-9a-f]{{24}}")
REMEMBERED = 50  # per session: the newest searches, enough for any back-and-forth between pages


def token_for(request: HttpRequest, number: str) -> str:
    """The token that stands for `number` (as typed) in this session's URLs."""
    token = PREFIX + salted_hmac("contacts.number_search", number).hexdigest()[:24]
    searches = {key: value for key, value in request.session.get(SESSION_KEY, {}).items() if key != token}
    searches[token] = number
    request.session[SESSION_KEY] = dict(list(searches.items())[-REMEMBERED:])
    return token


def is_token(text: str) -> bool:
    return TOKEN.fullmatch(text) is not None


def number_for(request: HttpRequest, token: str) -> str | None:
    """The search a token stands for, or None when this session never made it (expired, a shared link)."""
    return request.session.get(SESSION_KEY, {}).get(token)


def may_be_number(text: str) -> bool:
    """Whether a search could hold a phone number, valid or mistyped: then it never goes into a URL."""
    return not is_token(text) and phones.masked(text) != text


def redirect_without_number(request: HttpRequest, name: str = "q") -> HttpResponseRedirect | None:
    """Where a search goes instead of being answered: a posted search to this page's URL with its filters, a
    number in `name` replaced by its token; a number typed into the URL to the same. None when the page
    answers the request as it is (a GET without a number in it)."""
    posted = request.method == "POST"
    params = (request.POST if posted else request.GET).copy()
    text = params.get(name, "").strip()
    if not posted and not may_be_number(text):
        return None
    params.pop("csrfmiddlewaretoken", None)
    if may_be_number(text):
        params[name] = token_for(request, text)
    # 303: the browser follows with a GET, so a reload never posts the search again.
    return HttpResponseRedirect(f"{request.path}?{params.urlencode()}", status=303)
