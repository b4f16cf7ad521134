import pytest

from tests.factories import ContactFactory, SenderCodeFactory, SubscriberListFactory, SubscriptionFactory


@pytest.fixture
def subscription_factory(db):
    return SubscriptionFactory


@pytest.fixture
def list_factory(db):
    return SubscriberListFactory


@pytest.fixture
def contact_factory(db):
    return ContactFactory


@pytest.fixture
def sender_code_factory(db):
    return SenderCodeFactory
