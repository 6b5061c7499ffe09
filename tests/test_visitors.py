"""The one per-visitor registry (gan_core.explorer.visitors.Visitors) and what uses it: live runs per session and per
address, Stop before a run is built, the app's search limits."""

from __future__ import annotations

import threading
import time

import pytest
from test_live import sessions, tiny_config  # noqa: F401 - the fixture is used by name

from gan_core.explorer.visitors import Visitors


def test_values_are_found_by_their_own_session_only_and_closed_with_it():
    closed = []
    visitors = Visitors(on_close=closed.append)
    visitors.put("a", 1)
    visitors.put("a", 2)
    visitors.put("b", 3)
    assert visitors.of("a") == [1, 2] and visitors.first("b") == 3 and visitors.of(None) == [] and len(visitors) == 3
    assert visitors.close("a") == [1, 2] and closed == [1, 2] and visitors.of("a") == []
    visitors.remove("b", 3)  # ended by itself: not closed
    assert closed == [1, 2] and len(visitors) == 0 and visitors.close(None) == []


def test_only_replaces_and_closes_the_sessions_other_values():
    closed = []
    visitors = Visitors(on_close=closed.append)
    visitors.put("a", "old")
    visitors.put("a", "new", only=True)
    visitors.put("a", "new", only=True)  # keeping the same value again closes nothing
    assert visitors.of("a") == ["new"] and closed == ["old"]


def test_at_most_refuses_with_its_sentence_and_holding_lets_go():
    visitors = Visitors()
    with visitors.holding("addr", "first", at_most=1, refusal="busy"):
        with pytest.raises(ValueError, match="^busy$"):
            visitors.put("addr", "second", at_most=1, refusal="busy")
    assert visitors.of("addr") == []
    with visitors.holding(None, "anonymous", at_most=0) as value:  # no session: nothing kept, nothing refused
        assert value == "anonymous" and len(visitors) == 0


def test_an_idle_session_is_closed_and_a_touched_one_kept():
    closed = []
    visitors = Visitors(on_close=closed.append, idle_seconds=0.2)
    visitors.put("idle", "game 1")
    visitors.put("active", "game 2")
    for _ in range(4):
        time.sleep(0.08)
        assert visitors.of("active") == ["game 2"]  # reading it counts as use
    assert visitors.of("idle") == [] and closed == ["game 1"]


def test_the_registry_is_safe_across_threads():
    visitors = Visitors()

    def hold(index):
        for _ in range(200):
            with visitors.holding(f"s{index % 3}", object()):
                pass

    threads = [threading.Thread(target=hold, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(visitors) == 0


# ----------------------------------------------------------------------------- live runs


def test_one_address_trains_one_run_at_a_time(sessions):  # noqa: F811 - the fixture
    first = sessions.train("page-1", seed=0, address="10.0.0.1")
    next(first)
    with pytest.raises(ValueError, match="A run from your address is already training"):
        next(sessions.train("page-2", seed=0, address="10.0.0.1"))
    other = sessions.train("page-3", seed=0, address="10.0.0.2")  # another address is not held up
    next(other)
    assert sessions.running == 2
    first.close()
    other.close()
    again = sessions.train("page-2", seed=0, address="10.0.0.1")  # the address is free once its run ended
    assert next(again)["step"] == 0
    again.close()


def test_stop_right_after_start_stops_the_run(sessions):  # noqa: F811 - the fixture
    stream = sessions.train("visitor", seed=0)
    first = next(stream)  # the run exists but has barely started
    assert sessions.stop("visitor") is True
    views = [first, *stream]
    assert views[-1]["done"] and views[-1]["step"] < tiny_config().max_steps
    assert sessions.stop("visitor") is False  # it has ended: nothing to stop


def test_stop_while_the_run_is_being_built_stops_it_at_once(sessions, monkeypatch):  # noqa: F811 - the fixture
    load = sessions._training_data
    answers = []

    def slow_load():  # Stop arrives while the data loads and the networks are built
        answers.append(sessions.stop("visitor"))
        return load()

    monkeypatch.setattr(sessions, "_training_data", slow_load)
    views = list(sessions.train("visitor", seed=0))
    assert answers == [True] and views[-1]["done"] and views[-1]["step"] == 0


def test_the_address_of_a_request_cannot_be_claimed_with_a_header():
    from types import SimpleNamespace

    import gradio as gr

    from ui.common import client_address

    def address(peer, forwarded=None):
        return client_address(gr.Request(headers={"x-forwarded-for": forwarded} if forwarded else {}, client=SimpleNamespace(host=peer)))

    assert address("8.8.8.8", "1.2.3.4") == "8.8.8.8"  # a client on the internet: its header is its own words
    assert address("10.0.0.5", "6.6.6.6, 1.2.3.4") == "1.2.3.4"  # behind our proxy: what the proxy saw, not what was sent
    assert address("127.0.0.1", "6.6.6.6, 1.2.3.4, 10.1.1.1") == "1.2.3.4"  # proxies of ours are skipped
    assert address("10.0.0.5", "garbage, 10.1.1.1") == "10.0.0.5" and address("127.0.0.1") == "127.0.0.1"
    assert client_address(None) is None
