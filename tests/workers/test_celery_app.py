"""Where live queries of non-persisted sessions are answered (workers/celery_app.py)."""

import time
from pathlib import Path

import pytest

from orchestrion.config import BrokerConfig, Config
from workers.celery_app import QUERY_TASK, create_app, result_backend
from workers.tasks import register_tasks


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


class AnsweringHost:
    def query_transient(self, sessionid: str, wait_until: float) -> dict[str, object]:
        return {"configuration": ["run"], "datamodel": {"asked": sessionid}}


def test_a_query_is_answered_only_while_its_asker_waits(tmp_path: Path) -> None:
    app = create_app(broker("", tmp_path))
    register_tasks(app, AnsweringHost(), waker=None)  # type: ignore[arg-type]
    query = app.tasks[QUERY_TASK]
    answered = query.apply(args=["s1", time.time() + 3], task_id="in-time")
    late = query.apply(args=["s1", time.time() + 0.1], task_id="too-late")
    assert answered.successful() and late.successful()
    meta = app.backend.get_task_meta("in-time", cache=False)
    assert (meta["status"], meta["result"]["datamodel"]) == ("SUCCESS", {"asked": "s1"})
    # The asker gives up before the answer could be read: nothing is left in the folder.
    assert app.backend.get_task_meta("too-late", cache=False)["status"] == "PENDING"
    app.backend.forget("in-time")
    assert [p.name for p in (tmp_path / "results").iterdir()] == []
