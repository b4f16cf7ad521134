"""No bad query or path value makes a staff screen answer 500 (issue 13, point 7): every admin screen — our own,
django-axes', django-celery-beat's, Django's date drill-down — answers a hostile parameter with 400, or with the
page (unfiltered, or with a message), never with an error page.

The screens are every URL the matrix knows (tests/reliability/url_matrix.py) that a superuser can open; their
GET parameters are found, not listed by hand: the names a view reads from request.GET, the query strings of the
page's own links, the fields of its GET forms, and a changelist's every filter and date drill-down.
"""

import html
import re
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django.contrib.admin.views.main import ALL_VAR, ERROR_FLAG, ORDER_VAR, PAGE_VAR, SEARCH_VAR
from django.contrib.auth.models import User
from django.core.handlers import wsgi
from django.http import QueryDict
from django.test import Client

from smsprogram.admin_site import BAD_FILTER
from tests.reliability import url_matrix
from tests.reliability.conftest import all_pages

# What an attacker types: integers past every column's range, dates past datetime's, other scripts' digits,
# nothing, far too much, and the shapes our cursors and ranges take with those inside.
HOSTILE = [
    "9" * 30,
    "-99999999999999999999",
    "99999999999999999999_1",
    "1_99999999999999999999",
    "9999-12-31",
    "0001-01-01",
    "10000-01-01",
    "2026-02-30",
    "9999-12-31T23:59:59",
    "²",
    "١٢٣",
    "４５６７８",
    "",
    "9" * 10_000,
    "x" * 10_000,
    "\x00",
    "-",
    "1e400",
    "nan",
    "__",
]
ADMIN_PARAMS = {SEARCH_VAR, ORDER_VAR, PAGE_VAR, ALL_VAR, ERROR_FLAG, "_facets", "_popup", "_to_field"}
HOSTILE_IDS = ["abc", "9" * 30, "-1", "²", "1.5", "%00", "x" * 2000]

FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
FIELD = re.compile(r"<(?:input|select|textarea)\b[^>]*\bname=\"([^\"]+)\"", re.I)
HREF = re.compile(r"href=\"([^\"]*)\"", re.I)


class ReadQueryDict(QueryDict):
    """request.GET that notes each name a view asks it for."""

    names: set[str] = set()

    def __getitem__(self, key):
        self.names.add(key)
        return super().__getitem__(key)

    def getlist(self, key, default=None):
        self.names.add(key)
        return super().getlist(key, default)

    def __contains__(self, key):
        self.names.add(key)
        return super().__contains__(key)


def parameters(client: Client, path: str, monkeypatch) -> set[str]:
    """The GET parameters a screen understands, found by opening it once."""
    ReadQueryDict.names = set()
    with monkeypatch.context() as patched:
        patched.setattr(wsgi, "QueryDict", ReadQueryDict)
        response = client.get(path)
    found = set(ReadQueryDict.names)
    if "text/html" in response.get("Content-Type", ""):
        page = response.content.decode()
        for href in HREF.findall(page):
            link = urlsplit(html.unescape(href))
            if link.path in ("", path):
                found |= {name for name, _ in parse_qsl(link.query, keep_blank_values=True)}
        for attributes, body in FORM.findall(page):
            if "post" not in attributes.lower():
                found |= set(FIELD.findall(body))
    changelist = response.context and response.context.get("cl")
    if changelist is not None:
        found |= ADMIN_PARAMS
        for spec in changelist.filter_specs:
            found |= set(spec.expected_parameters())
        if changelist.date_hierarchy:
            found |= {f"{changelist.date_hierarchy}__{part}" for part in ("year", "month", "day")}
    return found - {"csrfmiddlewaretoken"}


@pytest.fixture
def screens(world, monkeypatch) -> tuple[Client, list[tuple[str, list[str]]]]:
    """A superuser's client, and every screen it can open with the parameters each one understands."""
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="a-long-password-1"))
    found = []
    for page in all_pages(world):
        if page.method == "GET" and client.get(page.path).status_code == 200:
            found.append((page.path, sorted(parameters(client, page.path, monkeypatch))))
    return client, found


def answer(client: Client, path: str, query: dict[str, str]) -> int:
    try:
        return client.get(path, query).status_code
    except Exception:  # the test client re-raises what a server would answer with 500
        return 500


def test_the_screens_and_their_parameters_are_found(screens):
    _, found = screens
    params = dict(found)
    assert len(found) > 60
    # the probes the review named are among what is tried
    assert {"older", "newer", "sender_code", "tab"} <= set(params["/admin/contacts/smscontact/"])
    assert "occurred_at__year" in params["/admin/contacts/optoutevent/"]
    assert "attempt_time__year" in params["/admin/axes/accessattempt/"]
    assert "code" in params["/admin/reports/deliveryreceipt/"]


@pytest.mark.parametrize(
    "path, query",
    [
        ("/admin/contacts/smscontact/", {"tab": "opted_out", "older": "99999999999999999999_1"}),
        ("/admin/contacts/smscontact/", {"newer": "1_99999999999999999999"}),
        ("/admin/contacts/smscontact/", {"tab": "opted_out", "since": "9999-12-30", "until": "9999-12-31"}),
        ("/admin/reports/deliveryreceipt/", {"code": "²"}),
        ("/admin/contacts/listhealth/opt-out-reasons/", {"since": "9999-12-30", "until": "9999-12-31"}),
        ("/admin/contacts/listhealth/opt-out-reasons.json", {"since": "2026-01-01", "until": "9999-12-31"}),
        ("/admin/contacts/optoutevent/", {"occurred_at__year": "9" * 30}),
        # found by the sweep below: third-party lists' date filters, a list id, an audience's list ids
        ("/admin/axes/accessattempt/", {"attempt_time__gte": "9999-12-31"}),
        ("/admin/django_celery_beat/periodictask/", {"start_time__lt": "0001-01-01"}),
        ("/admin/contacts/listhealth/opt-out-reasons.json", {"list": "²"}),
        ("/admin/contacts/listhealth/opt-out-reasons/", {"list": "9" * 40}),
        ("/admin/contacts/savedfilter/count.json", {"lists": "9" * 30}),
        ("/admin/reports/deliveryreceipt/", {"occurred_at__year": "9" * 30}),
        ("/admin/reports/carriernotice/", {"occurred_at__year": "9" * 30}),
        ("/admin/axes/accessattempt/", {"attempt_time__year": "9" * 30}),
        ("/admin/axes/accesslog/", {"attempt_time__year": "9" * 30}),
        # found by the property run on PostgreSQL, whose text cannot hold a NUL
        ("/admin/contacts/carriererrorcode/", {"action__exact": "\x00"}),
        ("/admin/reports/deactivationreport/", {"status__exact": "held\x00"}),
    ],
)
def test_the_reviews_probes_answer_without_an_error(world, admin_client, path, query):
    assert answer(admin_client, path, query) in (200, 302, 400, 404)  # 404: "No such list."


@pytest.mark.parametrize("path", ["/admin/contacts/optoutevent/", "/admin/axes/accesslog/"])
@pytest.mark.parametrize("year", ["9" * 30, "9999"])
def test_a_bad_date_drill_down_shows_the_unfiltered_list_and_says_why(world, admin_client, path, year):
    field = "occurred_at" if "contacts" in path else "attempt_time"
    response = admin_client.get(path, {f"{field}__year": year}, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain == [(f"{path}?{ERROR_FLAG}=1", 302)]
    assert BAD_FILTER in response.content.decode()


def test_an_import_jobs_page_with_a_bad_id_is_refused_before_it_is_looked_up(world, client):
    client.force_login(User.objects.create_user("nobody", password="a-long-password-1", is_staff=True))
    assert client.get("/admin/transfers/importjob/abc/change/").status_code == 403
    client.force_login(User.objects.create_superuser("root", password="a-long-password-1"))
    assert client.get("/admin/transfers/importjob/abc/change/").status_code == 302  # "doesn't exist", as Django


examples = pytest.mark.parametrize("runs", [300, pytest.param(5000, marks=pytest.mark.slow, id="soak")])


@examples
def test_no_hostile_query_value_is_a_server_error(screens, runs):
    client, found = screens
    hostile = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40))

    @st.composite
    def requests(draw):
        path, names = draw(st.sampled_from([(path, names) for path, names in found if names]))
        chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
        return path, {name: draw(hostile) for name in chosen}

    @settings(max_examples=runs, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
    @given(requests())
    def no_server_error(request):
        path, query = request
        assert answer(client, path, query) != 500, (path, query)

    no_server_error()


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_every_parameter_of_every_screen_with_every_hostile_value(screens):
    client, found = screens
    failures = [(path, name, value[:40]) for path, names in found for name in names for value in HOSTILE
                if answer(client, path, {name: value}) == 500]  # fmt: skip
    assert not failures, "\n".join(map(repr, failures))


def test_no_hostile_object_id_is_a_server_error(world, admin_client):
    routes = [route for route, _, args in url_matrix.routes() if "<path:object_id>" in route]
    assert routes
    failures = []
    for route in routes:
        for value in HOSTILE_IDS:
            path = "/" + route.replace("<path:object_id>", quote(value, safe=""))
            if answer(admin_client, path, {}) == 500:
                failures.append(f"{path[:80]} ({len(path)} characters)")
    assert not failures, "\n".join(failures)
