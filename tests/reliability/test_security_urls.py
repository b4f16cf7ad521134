"""R12: every URL, tried as anonymous, Viewer, Operator and Admin, answers as the committed matrix says.

A change to any answer, a new page or a page gone fails here, naming the URL and the role. When the change is
meant, measure again with `--write-url-matrix` and review the diff of url_matrix.json before committing it.
"""

import pytest

from django.test import Client

from tests.reliability import url_matrix
from tests.reliability.conftest import all_pages


def measure(pages: list[url_matrix.Page], users: dict) -> url_matrix.Matrix:
    """Every page as every role; a page that refuses GET with 405 is tried with a POST as well (an empty JSON
    body, so the API gets as far as its signature check)."""
    clients = {role: Client() for role in url_matrix.ROLES}
    for role, user in users.items():
        clients[role].force_login(user)

    def ask(role: str, method: str, path: str) -> str:
        client = clients[role]
        if method == "GET":
            return url_matrix.outcome(client.get(path))
        answer = url_matrix.outcome(client.post(path, b"{}", content_type="application/json"))
        if role in users and "_auth_user_id" not in client.session:  # that was the logout
            client.force_login(users[role])
        return answer

    matrix: url_matrix.Matrix = {}
    for page in pages:
        row = matrix[f"GET {page.key}"] = {role: ask(role, "GET", page.path) for role in url_matrix.ROLES}
        if "405" in row.values():
            matrix[f"POST {page.key}"] = {role: ask(role, "POST", page.path) for role in url_matrix.ROLES}
    return matrix


def test_every_url_answers_each_role_as_the_matrix_says(world, request, settings):
    settings.SIGNAL_API_SECRET = "a-secret-so-the-api-checks-signatures"
    found = measure(all_pages(world), world[2])
    if request.config.getoption("--write-url-matrix"):
        url_matrix.save(found)
        pytest.skip(f"wrote {len(found)} URLs to {url_matrix.MATRIX_FILE} and the table in {url_matrix.DOC_FILE}")
    changes = url_matrix.differences(url_matrix.load(), found)
    assert not changes, "the URL matrix changed (review, then --write-url-matrix):\n" + "\n".join(changes)


def test_the_documented_table_is_the_matrix():
    assert url_matrix.documented_table() == url_matrix.table(url_matrix.load())
