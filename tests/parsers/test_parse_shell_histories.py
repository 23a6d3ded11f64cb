"""Shell and REPL histories: exact times where the format records them, file time (marked)
where it does not, multi-line entries, odd bytes, truncation, and histories turned off."""

from datetime import timedelta

from parser_helpers import T0, errors, link, put, run

from mlsleuth.events import Category, TimestampQuality, from_epoch


def test_bash_with_epochs_is_exact_and_keeps_multiline_entries(tmp_path):
    put(tmp_path, "/home/alice/.bash_history",
        "#1762765200\nls -la\n#1762765260\npython - <<EOF\nimport torch\nEOF\n#1762765100\nwhoami\n",
        mtime=T0)
    events = run(tmp_path, "/home/alice/.bash_history", "bash_history")
    assert [e.cmdline for e in events] == ["ls -la", "python - <<EOF\nimport torch\nEOF", "whoami"]
    assert [e.timestamp for e in events] == [from_epoch(1762765200), from_epoch(1762765260), from_epoch(1762765100)]
    assert all(e.timestamp_quality == TimestampQuality.EXACT for e in events)
    assert [e.evidence.rsplit("#", 1)[1] for e in events] == ["L2", "L4", "L8"]
    assert all(e.user == "alice" and e.category == Category.COMMAND and e.process == "bash" for e in events)


def test_bash_without_epochs_gets_the_file_mtime_marked_inferred(tmp_path):
    put(tmp_path, "/home/bob/.bash_history", "cd /srv\n\npip install ./evil\n", mtime=T0)
    events = run(tmp_path, "/home/bob/.bash_history", "bash_history")
    assert [e.cmdline for e in events] == ["cd /srv", "pip install ./evil"]
    assert {e.timestamp for e in events} == {T0}
    assert {e.timestamp_quality for e in events} == {TimestampQuality.FILE_TIME}
    assert "at or before" in events[0].extra["time_note"]


def test_bash_odd_bytes_truncated_tail_and_silly_stamp(tmp_path):
    put(tmp_path, "/root/.bash_history", b"#1762765200\necho \xff\xfe caf\xc3\xa9\n#99999999999\nrm -rf /tmp/x", mtime=T0)
    events = run(tmp_path, "/root/.bash_history", "bash_history")
    assert events[0].cmdline == "echo \\xff\\xfe café"  # kept, escaped, never a crash
    assert events[1].cmdline == "rm -rf /tmp/x"  # last line without newline still read
    assert events[1].timestamp == T0 and events[1].timestamp_quality == TimestampQuality.FILE_TIME


def test_bash_over_long_line_is_cut_and_reported(tmp_path):
    put(tmp_path, "/root/.bash_history", b"a" * (3 << 20) + b"\nls\n", mtime=T0)
    events = run(tmp_path, "/root/.bash_history", "bash_history")
    assert [len(e.cmdline) < (1 << 20) + 100 for e in events if e.cmdline] == [True, True]
    assert "over-long" in errors(events)[0].message


def test_history_symlinked_to_dev_null_is_a_finding(tmp_path):
    link(tmp_path, "/home/eve/.bash_history", "/dev/null", mtime=T0)
    events = run(tmp_path, "/home/eve/.bash_history", "bash_history")
    assert len(events) == 1 and events[0].category == Category.FINDING
    assert "history disabled" in events[0].message


def test_a_zsh_file_reached_through_histfile_is_read_as_zsh(tmp_path):
    put(tmp_path, "/home/bob/.zsh_history", ": 1762765200:0;ls\n", mtime=T0)
    events = run(tmp_path, "/home/bob/.zsh_history", "bash_history")
    assert [(e.source, e.cmdline, e.timestamp) for e in events] == [("zsh_history", "ls", from_epoch(1762765200))]


def test_zsh_extended_multiline_and_metafied_bytes(tmp_path):
    # zsh stores bytes 0x83..0xa2 as Meta (0x83) + byte^0x20: the em dash E2 80 94 is E2 80 83 B4
    meta = b": 1762765300:2;echo \xe2\x80\x83\xb4\n"
    put(tmp_path, "/home/bob/.zsh_history",
        b": 1762765200:0;python -c 'import os;\\\nos.system(\"id\")'\n" + meta + b"plain line\n", mtime=T0)
    events = run(tmp_path, "/home/bob/.zsh_history", "zsh_history")
    assert events[0].cmdline == "python -c 'import os;\nos.system(\"id\")'"
    assert events[0].timestamp == from_epoch(1762765200) and events[0].extra["duration_s"] == 0
    assert events[1].timestamp == from_epoch(1762765300) and events[1].extra["duration_s"] == 2
    assert events[1].cmdline == "echo \u2014"
    assert events[2].cmdline == "plain line" and events[2].timestamp_quality == TimestampQuality.FILE_TIME


def test_zsh_plain_history_uses_file_time(tmp_path):
    put(tmp_path, "/home/bob/.zsh_history", "git pull\nmake\n", mtime=T0)
    events = run(tmp_path, "/home/bob/.zsh_history", "zsh_history")
    assert [(e.cmdline, e.timestamp, e.timestamp_quality) for e in events] == [
        ("git pull", T0, TimestampQuality.FILE_TIME), ("make", T0, TimestampQuality.FILE_TIME)]


def test_fish_blocks_escapes_and_a_broken_block(tmp_path):
    text = ("- cmd: echo one\\ntwo \\\\ three\n  when: 1762765200\n  paths:\n    - ./data\n"
            "- cmd: garbage without when\n  when: notanumber\n"
            "- cmd: huggingface-cli download org/model\n  when: 1762765400\n")
    put(tmp_path, "/home/carol/.local/share/fish/fish_history", text, mtime=T0)
    events = run(tmp_path, "/home/carol/.local/share/fish/fish_history", "fish_history")
    assert events[0].cmdline == "echo one\ntwo \\ three" and events[0].extra["paths"] == ["./data"]
    assert events[0].timestamp == from_epoch(1762765200)
    assert events[1].timestamp_quality == TimestampQuality.FILE_TIME
    assert events[2].cmdline == "huggingface-cli download org/model"
    assert events[2].timestamp == from_epoch(1762765400)


def test_python_history_readline_and_libedit(tmp_path):
    put(tmp_path, "/home/a/.python_history", "import pickle\npickle.load(open('m.pkl','rb'))\n", mtime=T0)
    put(tmp_path, "/home/b/.python_history", "_HiStOrY_V2_\nprint(\\0401)\n", mtime=T0 + timedelta(hours=1))
    a = run(tmp_path, "/home/a/.python_history", "python_history")
    b = run(tmp_path, "/home/b/.python_history", "python_history")
    assert [e.cmdline for e in a] == ["import pickle", "pickle.load(open('m.pkl','rb'))"]
    assert {e.timestamp_quality for e in a} == {TimestampQuality.FILE_TIME}
    assert [e.cmdline for e in b] == ["print( 1)"]


def test_empty_and_binary_garbage_histories_do_not_crash(tmp_path):
    put(tmp_path, "/home/a/.bash_history", b"", mtime=T0)
    put(tmp_path, "/home/a/.zsh_history", bytes(range(256)) * 10, mtime=T0)
    assert run(tmp_path, "/home/a/.bash_history", "bash_history") == []
    events = run(tmp_path, "/home/a/.zsh_history", "zsh_history")
    assert events and not errors(events)


def test_credentials_typed_on_a_command_line_are_fingerprinted(tmp_path):
    token = "hf_" + "A1b2C3d4" * 5
    put(tmp_path, "/home/a/.bash_history",
        f"huggingface-cli login --token {token}\nexport OPENAI_API_KEY=sk-proj-{'x9' * 15}\n"
        "pip install -i https://bob:hunter2pass@pypi.corp.example/simple torch\ncurl 'https://x.example/?key=abcdef123456'\n",
        mtime=T0)
    events = run(tmp_path, "/home/a/.bash_history", "bash_history")
    dumped = repr([e.to_dict() for e in events])
    for secret in (token, "x9" * 15, "hunter2pass", "abcdef123456"):
        assert secret not in dumped
    assert events[0].cmdline.startswith("huggingface-cli login --token REDACTED:sha256:")
