"""`controller status` on the embedded target (all four states) and the state lock at the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from helpers import BLOG, TWEET, edit, remote_project, run


def test_status_shows_all_four_states_and_writes_nothing(repo, capsys):
    code, out, _ = run(capsys, "status", "--detailed-exitcode", "--no-color")
    assert code == 2 and out.count("Missing") == 3, out
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    code, out, _ = run(capsys, "status", "--detailed-exitcode", "-o", "json")
    doc = json.loads(out)
    assert code == 0 and doc["synced"] and doc["counts"]["Synced"] == 3
    head = doc["revision"]
    assert head and {a["revision"] for a in doc["assistants"]} == {head}
    assert {a["version"] for a in doc["assistants"]} == {1}

    edit(repo / BLOG, "style: blog", "style: essay")          # content differs → OutOfSync
    (repo / TWEET).rename(repo / "tweet.yaml.off")             # owned, undeclared → Orphan
    (repo / "assistants" / "extra.yaml").write_text(
        (repo / "tweet.yaml.off").read_text().replace("name: tweet-writer", "name: extra-writer"))  # → Missing
    before = (repo / ".controller" / "state.db").stat().st_mtime_ns
    code, out, _ = run(capsys, "status", "--detailed-exitcode", "-o", "json")
    states = {a["name"]: a["sync"] for a in json.loads(out)["assistants"]}
    assert code == 2
    assert states == {"blog-writer": "OutOfSync", "support-bot": "Synced", "tweet-writer": "Orphan",
                      "extra-writer": "Missing"}
    assert (repo / ".controller" / "state.db").stat().st_mtime_ns == before
    code, out, _ = run(capsys, "status", "--no-color")
    assert code == 0 and "OutOfSync" in out and "Orphan" in out and head[:12] in out


HOLDER = textwrap.dedent("""
    import sys, time
    from controller.targets.lock import StateLock
    lock = StateLock(sys.argv[1]); lock.acquire()
    print("held", flush=True)
    time.sleep(120)
""")


def test_apply_fails_at_once_while_the_state_is_locked_and_succeeds_after_kill_9(repo, capsys):
    state = str(repo / ".controller" / "state.db")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, state], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, out, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
        assert code == 1
        assert f"locked by pid {holder.pid} on " in err and " since " in err
        assert "Plan:" not in out  # refused before planning: nothing written
        assert not os.path.exists(state)
        started = time.monotonic()
        code, _, err = run(capsys, "apply", ".", "--auto-approve", "--no-smoke", "--lock-timeout", "1s")
        assert code == 1 and "waited 1s" in err and time.monotonic() - started >= 1
    finally:
        holder.kill()  # SIGKILL: the kernel drops the flock with the process
        holder.wait(timeout=10)
    code, out, _ = run(capsys, "apply", ".", "--auto-approve", "--no-smoke")
    assert code == 0 and "Apply complete: 3 created" in out


def test_watch_refuses_to_start_while_the_state_is_locked(repo):
    from test_watch import child_env, controller_command

    state = str(repo / ".controller" / "state.db")
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, state], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        out = subprocess.run([*controller_command(), "watch", ".", "--interval", "600s"], cwd=repo, env=child_env(),
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 1
        assert f"locked by pid {holder.pid} on " in out.stderr
        assert not os.path.exists(state)
    finally:
        holder.kill()
        holder.wait(timeout=10)


@pytest.mark.server
def test_status_on_a_remote_server_all_four_states(tmp_path, owner, agent_server, capsys, monkeypatch):
    root = remote_project(tmp_path / "remote", owner, agent_server.url, monkeypatch)
    assert run(capsys, "apply", ".", "--auto-approve", "--no-smoke")[0] == 0
    code, out, _ = run(capsys, "status", "--detailed-exitcode", "-o", "json")
    assert code == 0 and json.loads(out)["counts"]["Synced"] == 3
    edit(root / BLOG, "Keep paragraphs short.", "Keep them short.")
    (root / TWEET).rename(root / "tweet.yaml.off")
    (root / "assistants" / "extra.yaml").write_text(
        (root / "tweet.yaml.off").read_text().replace("name: tweet-writer", "name: extra-writer"))
    code, out, _ = run(capsys, "status", "--detailed-exitcode", "-o", "json")
    states = {a["name"]: a["sync"] for a in json.loads(out)["assistants"]}
    assert code == 2
    assert states == {"blog-writer": "OutOfSync", "support-bot": "Synced", "tweet-writer": "Orphan",
                      "extra-writer": "Missing"}


@pytest.mark.parametrize("flags, message", [
    (["--listen", "nowhere"], "--listen: expected HOST:PORT"),
    (["--webhook-secret-env", "NO_SUCH_VARIABLE_SET"], "NO_SUCH_VARIABLE_SET is not set or empty"),
    (["--notify-url", "ftp://x"], "--notify-url: expected an http:// or https:// URL"),
    (["--workdir", "wd"], "--workdir: only with --git URL"),
    (["--lock-timeout", "soon"], "--lock-timeout: invalid duration"),
])
def test_bad_watch_flags_are_one_line_and_exit_1(repo, capsys, monkeypatch, flags, message):
    monkeypatch.delenv("NO_SUCH_VARIABLE_SET", raising=False)
    code, _, err = run(capsys, "watch", ".", *flags)
    assert code == 1 and message in err, err
    assert not (repo / ".controller").exists()


def test_notify_in_controller_yaml_receives_applied_events_with_text(repo):
    import queue
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from test_watch import Watch

    received: queue.Queue = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.put(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    inbox = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=inbox.serve_forever, daemon=True).start()
    config = repo / "controller.yaml"
    config.write_text(config.read_text() + f"notify: http://127.0.0.1:{inbox.server_address[1]}/hook\n")
    watch = Watch(repo, "--no-smoke", interval="600s")
    try:
        assert watch.finished("the first pass", trigger="start")["created"] == 3
        got = [received.get(timeout=30) for _ in range(3)]
        assert {e["event"] for e in got} == {"applied"}
        assert {e["text"] for e in got} == {"+ blog-writer: created (v1)", "+ tweet-writer: created (v1)",
                                            "+ support-bot: created (v1)"}
        assert watch.terminate() == 0
    finally:
        watch.close()
        inbox.shutdown()
