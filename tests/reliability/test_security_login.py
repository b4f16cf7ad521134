"""Admin logins are throttled and audited: a guessing run is locked out, every attempt is on record, and the
record is Admin staff's to read (R12)."""

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog

from django.contrib.auth.models import User
from django.test import Client

from tests.screens.conftest import staff_in

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "a-long-password-1"


def log_in(client: Client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.fixture
def staff():
    return User.objects.create_user("staff", password=PASSWORD, is_staff=True)


def test_after_the_failure_limit_even_the_right_password_is_refused(client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "staff", "guess").status_code == 200  # the form again, with its error
    assert log_in(client, "staff", "guess").status_code == 429  # the failure that reaches the limit
    locked = log_in(client, "staff", PASSWORD)
    assert locked.status_code == 429
    assert not locked.wsgi_request.user.is_authenticated
    assert "_auth_user_id" not in client.session


def test_one_failure_short_of_the_limit_still_logs_in_and_resets_the_count(client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "staff", "guess")
    assert log_in(client, "staff", PASSWORD).status_code == 302
    assert not AccessAttempt.objects.filter(username="staff").exists()


def test_a_lockout_is_per_username_and_address(client, staff, settings):
    User.objects.create_user("colleague", password=PASSWORD, is_staff=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "staff", "guess")
    # The same office address for another person, and the same person from elsewhere, still get in.
    assert log_in(Client(), "colleague", PASSWORD).status_code == 302
    assert log_in(Client(), "staff", PASSWORD, address="198.51.100.20").status_code == 302


def test_the_limit_follows_the_setting(client, staff, settings):
    settings.AXES_FAILURE_LIMIT = 2
    log_in(client, "staff", "guess")
    log_in(client, "staff", "guess")
    assert log_in(client, "staff", PASSWORD).status_code == 429


def test_every_attempt_is_on_record_without_the_password(client, staff):
    log_in(client, "staff", "guess-one")
    log_in(Client(), "staff", PASSWORD, address="198.51.100.20")
    failure = AccessFailureLog.objects.get()
    assert (failure.username, failure.ip_address, failure.locked_out) == ("staff", "203.0.113.7", False)
    success = AccessLog.objects.get()
    assert (success.username, success.ip_address) == ("staff", "198.51.100.20")
    attempts = " ".join(str(a.post_data) for a in AccessAttempt.objects.all())
    assert "guess-one" not in attempts


@pytest.mark.parametrize("role, status", [("Admin", 200), ("Operator", 403), ("Viewer", 403)])
@pytest.mark.parametrize("model", ["accessattempt", "accesslog", "accessfailurelog"])
def test_admin_staff_read_the_login_record_and_no_one_else(client, role, status, model):
    log_in(Client(), "someone", "guess")
    client.force_login(staff_in(role))
    assert client.get(f"/admin/axes/{model}/").status_code == status


def test_admin_staff_cannot_delete_the_login_record(client):
    log_in(Client(), "someone", "guess")
    attempt = AccessFailureLog.objects.get()
    client.force_login(staff_in("Admin"))
    response = client.post(f"/admin/axes/accessfailurelog/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert AccessFailureLog.objects.filter(pk=attempt.pk).exists()
