from smsprogram.celery import ping


def test_a_real_worker_answers_through_redis(celery_worker):
    result = ping.delay()
    assert result.get(timeout=30) == "pong"
    assert celery_worker.poll() is None
