"""The task store's bounds and expiry, the runner's lifecycle, and the task time limit's configuration."""

from __future__ import annotations

import logging

import anyio
import anyio.lowlevel
import pytest

from mcp_lmstudio.cli.command import parse_settings
from mcp_lmstudio.server.tasks import TaskRecord, TaskRunner, TaskStore, TaskStoreFullError, UnknownTaskError

pytestmark = pytest.mark.anyio


async def test_a_task_is_visible_to_its_owner_only() -> None:
    store = TaskStore(ttl_s=60, time_limit_s=30)
    record = store.create("alice", "generate")
    assert store.get("alice", record.task_id) is record
    with pytest.raises(UnknownTaskError):
        store.get("bob", record.task_id)
    assert store.owned_by("bob") == [] and store.owned_by("alice") == [record]


async def test_task_ids_are_unguessable() -> None:
    store = TaskStore(ttl_s=60, time_limit_s=30)
    ids = {store.create("x", "generate").task_id for _ in range(100)}
    assert len(ids) == 100 and all(len(task_id) == 32 for task_id in ids)  # 192 random bits, url-safe base64


async def test_a_full_store_forgets_the_earliest_finished_task_first(caplog: pytest.LogCaptureFixture) -> None:
    store = TaskStore(ttl_s=60, time_limit_s=30, max_tasks=3)
    first, second, running = (store.create("x", "generate") for _ in range(3))
    second.finish("completed", "done", result={})
    first.finish("completed", "done", result={})
    with caplog.at_level(logging.WARNING):
        store.create("x", "generate")
    assert len(store) == 3
    with pytest.raises(UnknownTaskError):
        store.get("x", second.task_id)  # finished earliest, so forgotten first
    assert store.get("x", first.task_id) and store.get("x", running.task_id)
    assert "forgetting finished task" in caplog.text


async def test_a_store_full_of_running_tasks_refuses_a_new_one() -> None:
    store = TaskStore(ttl_s=60, time_limit_s=30, max_tasks=2)
    store.create("x", "generate"), store.create("x", "generate")
    with pytest.raises(TaskStoreFullError, match="2 tasks are already running"):
        store.create("x", "generate")


async def test_expired_tasks_are_forgotten_but_never_while_running() -> None:
    store = TaskStore(ttl_s=0.05, time_limit_s=0.05)
    finished, running = store.create("x", "generate"), store.create("x", "generate")
    finished.finish("completed", "done", result={})
    await anyio.sleep(0.1)  # let the TTL pass: expiry is wall-clock time
    with pytest.raises(UnknownTaskError):
        store.get("x", finished.task_id)
    assert store.get("x", running.task_id) is running


async def test_the_runner_fails_a_task_whose_work_crashes_and_keeps_running(caplog: pytest.LogCaptureFixture) -> None:
    async def crash(record: TaskRecord) -> None:
        raise RuntimeError("boom")

    async def succeed(record: TaskRecord) -> None:
        record.finish("completed", "ok", result={"content": []})

    async with TaskRunner(TaskStore(ttl_s=60, time_limit_s=5)) as runner:
        crashed, fine = runner.start("x", "generate", crash), runner.start("x", "generate", succeed)
        with anyio.fail_after(5):
            await crashed.done.wait()
            await fine.done.wait()
    assert (crashed.status, crashed.error) == ("failed", {"code": -32603, "message": "Internal error"})
    assert fine.status == "completed"
    assert "crashed" in caplog.text


async def test_the_runner_stops_work_that_outlives_its_time_limit() -> None:
    async def hang(record: TaskRecord) -> None:
        await anyio.sleep_forever()

    async with TaskRunner(TaskStore(ttl_s=60, time_limit_s=0.01)) as runner:
        runner_task = runner.start("x", "generate", hang)
        with anyio.fail_after(10):
            await runner_task.done.wait()
    assert runner_task.status == "failed" and "time limit" in (runner_task.status_message or "")


async def test_leaving_the_runner_cancels_running_work() -> None:
    stopped = anyio.Event()

    async def work(record: TaskRecord) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            stopped.set()

    async with TaskRunner(TaskStore(ttl_s=60, time_limit_s=60)) as runner:
        record = runner.start("x", "generate", work)
        await anyio.lowlevel.checkpoint()  # let the work start
    assert stopped.is_set() and record.status == "cancelled"
    with pytest.raises(RuntimeError, match="not running"):
        runner.start("x", "generate", work)


def test_the_task_timeout_defaults_to_an_hour_or_the_call_timeout_if_longer() -> None:
    assert parse_settings([], {})[1].task_timeout == 3600
    assert parse_settings(["--timeout", "7200"], {})[1].task_timeout == 7200
    assert parse_settings([], {"MCP_LMSTUDIO_TASK_TIMEOUT": "90"})[1].task_timeout == 90
    assert parse_settings(["--task-timeout", "120"], {"MCP_LMSTUDIO_TASK_TIMEOUT": "90"})[1].task_timeout == 120


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--task-timeout", "0"], {}, "--task-timeout 0: the time limit must be a positive number of seconds"),
        ([], {"MCP_LMSTUDIO_TASK_TIMEOUT": "later"}, "MCP_LMSTUDIO_TASK_TIMEOUT='later': not a number of seconds"),
    ],
)
def test_a_bad_task_timeout_is_reported(
    argv: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_settings(argv, env)
    assert message in capsys.readouterr().err
