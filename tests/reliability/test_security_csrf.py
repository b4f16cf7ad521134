"""Every form and POST view refuses a POST without a CSRF token — add, change, delete and changelist actions
of every registered model, the custom admin views (fetch now, uploads, imports), login and logout — and
changes nothing. Only the signed machine endpoints are exempt, and the test names any other that becomes so."""

from django.contrib import admin
from django.contrib.auth.models import User
from django.middleware.csrf import get_token
from django.test import Client

from contacts.models import SavedFilter
from tests.reliability.conftest import all_pages

# Authenticated by their HMAC signature, with no browser session to ride on (see reports/views.py).
CSRF_EXEMPT = {"/api/receipts/", "/api/carrier-notices/", "/api/reassigned-numbers/"}  # the signed API


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in admin.site._registry}


def refused_for_csrf(response) -> bool:
    return response.status_code == 403 and b"CSRF verification failed" in response.content


def test_a_post_without_a_csrf_token_is_refused_everywhere_but_the_signed_api(world):
    # A superuser, so no page refuses for want of a permission before the token is looked at.
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("root", password="a-long-password-1"))
    before = row_counts()
    accepted = set()
    pages = all_pages(world)
    for page in pages:
        for data in ({}, {"action": "delete_selected", "_selected_action": ["1"], "post": "yes"}):
            response = client.post(page.path, data)
            if not refused_for_csrf(response):
                accepted.add(page.key)
    assert accepted == CSRF_EXEMPT
    assert row_counts() == before
    assert len(pages) > 100  # the enumeration found the admin, not a handful of pages


def test_the_same_post_with_its_token_goes_through(world):
    """The control: what the token's absence stopped is a real, working form."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("root", password="a-long-password-1"))
    saved = SavedFilter.objects.get()
    page = f"/admin/contacts/savedfilter/{saved.pk}/delete/"
    assert refused_for_csrf(client.post(page, {"post": "yes"}))
    token = get_token(client.get(page).wsgi_request)
    assert client.post(page, {"post": "yes", "csrfmiddlewaretoken": token}).status_code == 302
    assert not SavedFilter.objects.exists()
