import pytest

from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


def test_admin_login_page_renders(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_staff_user_logs_in_and_sees_the_admin_index(client):
    get_user_model().objects.create_user("staff", password="a-long-password-1", is_staff=True)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "staff", "password": "a-long-password-1"}, follow=True
    )
    assert response.status_code == 200
    assert response.context["user"].is_authenticated
    assert b"Log out" in response.content


def test_wrong_password_is_refused(client):
    get_user_model().objects.create_user("staff", password="a-long-password-1", is_staff=True)
    response = client.post("/admin/login/", {"username": "staff", "password": "wrong"})
    assert not response.wsgi_request.user.is_authenticated
    assert b"Please enter the correct username and password" in response.content


def test_root_redirects_to_the_admin(client):
    assert client.get("/").url == "/admin/"
