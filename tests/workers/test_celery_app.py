"""Where live queries of non-persisted sessions are answered (workers/celery_app.py)."""

from pathlib import Path

import pytest

from orchestrion.config import BrokerConfig, Config
from workers.celery_app import create_app, result_backend


def broker(url: str, data_dir: Path) -> Config:
    return Config(broker=BrokerConfig(url=url, data_dir=data_dir))


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://cache.example:6380/1"])
def test_a_redis_broker_answers_through_the_same_redis(url: str, tmp_path: Path) -> None:
    assert result_backend(broker(url, tmp_path)) == url


def test_the_embedded_broker_answers_through_a_folder_beside_its_queue(tmp_path: Path) -> None:
    backend = result_backend(broker("", tmp_path / "data"))
    assert backend == f"file://{(tmp_path / 'data' / 'results').resolve()}"
    assert (tmp_path / "data" / "results").is_dir()


def test_other_brokers_have_no_live_queries_and_wake_ups_keep_no_results(tmp_path: Path) -> None:
    assert result_backend(broker("amqp://guest@localhost//", tmp_path)) is None
    app = create_app(broker("", tmp_path))
    assert app.conf.task_ignore_result is True
