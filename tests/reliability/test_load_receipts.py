"""The receipts endpoint under a few seconds of concurrent load (gunicorn on PostgreSQL): every opt-out is
applied exactly once, a receipt sent in two batches at once is stored once (R6), and replaying every batch
changes nothing. `python -m bench.receipts_load` runs the same load for a minute and records the figures."""

import pytest

from bench.data import load_contacts, numbers
from bench.receipts_load import Plan, gunicorn, run, server_env
from contacts.models import SenderCode
from tests.conftest import database_url_for_subprocess
from tests.s3_endpoint import free_port

SECRET = "a-load-test-secret"

committed = pytest.mark.django_db(transaction=True, serialized_rollback=True)  # the server sees commits only


def load(tmp_path, *, seconds: float, contacts: int):
    phones = numbers(contacts, seed=31)
    load_contacts(phones)
    plan = Plan(phones, list(SenderCode.objects.values_list("code", flat=True)))
    port = free_port()
    env = server_env(database_url_for_subprocess(), SECRET)
    with gunicorn(env, port=port, workers=2, log=tmp_path / "gunicorn.log"):
        return run(port, SECRET, plan, seconds=seconds, clients=3)


@committed
def test_concurrent_signed_batches_apply_every_opt_out_exactly_once(postgres, tmp_path):
    figures = load(tmp_path, seconds=3, contacts=3_000)

    assert figures.errors == 0 and figures.batches >= 3
    assert figures.opt_outs_applied == figures.opt_outs_expected
    assert figures.opt_outs_expected[1] >= 20 * figures.batches  # every target had a subscription
    assert figures.accepted == figures.unique_sent == figures.receipts_stored
    assert figures.accepted + figures.duplicates == figures.receipts_sent
    assert (figures.replay_accepted, figures.replay_errors, figures.unchanged_by_replay) == (0, 0, True)
    assert figures.exactly_once
    print(f"receipts load: {figures}")
