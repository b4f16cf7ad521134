"""Fixtures shared by the reliability and security tests."""

from tests.screens.conftest import program  # noqa: F401  (the small SMS program, reused as a fixture)


def pytest_addoption(parser):
    parser.addoption(
        "--write-url-matrix",
        action="store_true",
        help="measure who may open each URL again and write tests/reliability/url_matrix.json and its docs table",
    )
