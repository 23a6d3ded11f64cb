"""Correlation: origin -> load -> follow-on links made on evidence, never on proximity alone."""

from __future__ import annotations

import dataclasses

import tl_scenario as sc
from mlsleuth.timelines.frame import Columns, Timeline
from mlsleuth.timelines.report import build_report
from tl_scenario import ev

from mlsleuth.events import Category, Event, TimestampQuality


def report(events: list[Event], window: int = 600):
    cols = Columns()
    cols.extend(events)
    return build_report(Timeline(cols), window)


def steps_of(chain: dict) -> list[tuple[str, str]]:
    return [(s["kind"], s["path"]) for s in chain["steps"]]


def chain_for(rep, host: str) -> list[dict]:
    ids = {c.id for c in rep.chain_objs if c.host == host}
    return [c for c in rep.chains if c["id"] in ids]


def all_paths(rep) -> set[str]:
    return {s["path"] for c in rep.chains for s in c["steps"]}


# -- dead-box -------------------------------------------------------------------------------------

def test_deadbox_chain_links_download_notebook_load_and_the_payloads_write():
    rep = report(sc.deadbox_events())
    (chain,) = rep.chains
    assert steps_of(chain) == [
        ("download", f"{sc.EVIL_DIR}/snapshots/{sc.EVIL_REV}/pytorch_model.bin"),
        ("load", "/home/alice/work/eval.ipynb"),
        ("persistence", "/home/alice/.ssh/authorized_keys"),
    ]
    load, follow = chain["steps"][1], chain["steps"][2]
    assert "names path" in load["reason"] and load["evidence"] == ["fs/home/alice/work/eval.ipynb#/cells/2"]
    assert "named by the payload" in follow["reason"] and follow["evidence"] == ["bodyfile.txt#L88"]
    assert chain["verdicts"][0]["verdict"] == "malicious"
    assert "authorized_keys" in chain["summary"] and "ml-ws-01" in chain["summary"]
    assert 1 <= chain["score"] <= 100


def test_decoys_are_not_linked():
    """Benign download in the same minute (and loaded), bob's crontab in the window, a benign
    install in the same hour followed by a .bashrc edit: none of it joins the chain."""
    rep = report(sc.deadbox_events())
    paths = all_paths(rep)
    assert not any(sc.BENIGN_DIR in p for p in paths)
    assert "/var/spool/cron/crontabs/bob" not in paths
    assert "/home/alice/.bashrc" not in paths
    assert not any("requests" in p for p in paths)
    assert len(rep.chains) == 1


def test_clean_model_load_followed_by_an_unrelated_write_is_not_a_chain():
    events = [e if e.category != Category.FINDING or e.verdict != "malicious"
              else dataclasses.replace(e, verdict="clean", message="no payload", extra={})
              for e in sc.deadbox_events()]
    assert report(events).chains == []


def test_flagged_model_and_same_user_links_a_write_the_payload_does_not_name():
    # the verdict carries no indicators: the write is linked on verdict + same account
    events = [dataclasses.replace(e, message="pickle calls posix.system", extra={})
              if e.category == Category.FINDING and e.verdict == "malicious" else e
              for e in sc.deadbox_events()]
    (chain,) = report(events).chains
    step = chain["steps"][-1]
    assert step["path"] == "/home/alice/.ssh/authorized_keys"
    assert "same user (alice)" in step["reason"] and "malicious" in step["reason"]


def test_persistence_of_another_user_needs_the_payload_to_name_it():
    events = [dataclasses.replace(e, message="pickle calls posix.system", extra={})
              if e.category == Category.FINDING and e.verdict == "malicious" else e
              for e in sc.deadbox_events()]
    events = [dataclasses.replace(e, user="bob", file_path="/home/bob/.ssh/authorized_keys")
              if e.file_path == "/home/alice/.ssh/authorized_keys" else e for e in events]
    assert report(events).chains == []


def test_follow_on_outside_the_window_is_not_linked():
    events = sc.deadbox_events()
    assert report(events, window=5).chains == []
    assert len(report(events, window=60).chains) == 1


def test_a_mere_download_command_is_not_a_load():
    evil_file = f"{sc.EVIL_DIR}/snapshots/{sc.EVIL_REV}/pytorch_model.bin"
    events = [e for e in sc.deadbox_events() if e.source != "notebook"]
    events.append(ev(-5, Category.COMMAND, "huggingface-cli download evil-org/bert-tiny", source="bash_history",
                     user="alice", cmdline="huggingface-cli download evil-org/bert-tiny",
                     file_path="/home/alice/.bash_history"))
    events.append(ev(31, Category.COMMAND, f"ls -la {evil_file}", source="bash_history", user="alice",
                     cmdline=f"ls -la {evil_file}", file_path="/home/alice/.bash_history"))
    assert report(events).chains == []


def test_download_command_joins_the_chain_as_origin_evidence():
    events = sc.deadbox_events() + [
        ev(-5, Category.COMMAND, "bash: huggingface-cli download evil-org/bert-tiny", source="bash_history",
           user="alice", cmdline="huggingface-cli download evil-org/bert-tiny", file_path="/home/alice/.bash_history",
           evidence="fs/home/alice/.bash_history#L14")]
    (chain,) = report(events).chains
    assert chain["steps"][0]["kind"] == "download" and chain["steps"][0]["path"] == "/home/alice/.bash_history"
    assert chain["steps"][0]["evidence"] == ["fs/home/alice/.bash_history#L14"]


def test_estimated_ipython_load_uses_its_session_bounds():
    evil_file = f"{sc.EVIL_DIR}/snapshots/{sc.EVIL_REV}/pytorch_model.bin"
    events = [e for e in sc.deadbox_events() if e.source != "notebook"]
    # placed at the session start, the true load was later: the write 400 s after the session's
    # placement still falls in [session start, session end + window]
    events.append(ev(-300, Category.COMMAND, "ipython: torch.load(...)", source="ipython_history", user="alice",
                     cmdline=f'torch.load("{evil_file}")', timestamp_quality=TimestampQuality.ESTIMATED,
                     file_path="/home/alice/.ipython/profile_default/history.sqlite",
                     extra={"session_start": sc.at(-300).isoformat(), "session_end": sc.at(200).isoformat()}))
    (chain,) = report(events, window=120).chains
    assert [s["kind"] for s in chain["steps"]] == ["download", "load", "persistence"]


def test_loader_copy_of_the_same_repo_is_the_one_linked():
    """bob and alice each cached the repo; alice's load links alice's copy only."""
    events = sc.deadbox_events() + sc.download(1, sc.EVIL, sc.EVIL_DIR.replace("alice", "bob"), "d" * 64,
                                                 user="bob")
    events = [dataclasses.replace(e, cmdline='m = AutoModel.from_pretrained("evil-org/bert-tiny")')
              if e.source == "notebook" and "torch.load" in (e.cmdline or "") else e for e in events]
    (chain,) = report(events).chains
    assert "/home/alice/" in chain["steps"][0]["path"]


# -- live evidence ---------------------------------------------------------------------------------

def test_live_chain_follows_the_ppid_tree_of_the_process_holding_the_model_open():
    rep = report(sc.live_events())
    (chain,) = chain_for(rep, "gpu-02")
    kinds = [s["kind"] for s in chain["steps"]]
    assert kinds == ["download", "load", "shell", "download_tool", "network"]
    load = chain["steps"][1]
    assert load["time"].startswith("2026-11-10T09:01:40") and "pid 4242" in load["reason"]
    assert chain["steps"][-1]["path"] == "198.51.100.9:80"
    assert "(via pid 4300)" in chain["steps"][3]["reason"]


def test_live_unrelated_process_and_the_loaders_own_https_are_not_linked():
    rep = report(sc.live_events())
    paths = all_paths(rep)
    assert "bash" not in paths and "18.239.50.3:443" not in paths


def test_children_of_a_shared_kernel_go_to_the_flagged_model_only():
    events = sc.live_events()
    other = "/home/carol/.cache/huggingface/hub/models--good--model"
    events += sc.download(5, "good/model", other, "e" * 64, name="model.safetensors", user="carol", host="gpu-02")
    events.append(ev(160, Category.FILE, "open", host="gpu-02", user="carol", pid=4242,
                     file_path=f"{other}/snapshots/{sc.EVIL_REV}/model.safetensors"))
    rep = report(events)
    assert len(chain_for(rep, "gpu-02")) == 1
    assert not any(other in p for p in all_paths(rep))


# -- packages --------------------------------------------------------------------------------------

def test_package_from_extra_index_imported_then_persistence_is_a_chain_and_a_default_one_is_not():
    site = "/home/dan/.local/lib/python3.11/site-packages"
    events = [
        ev(0, Category.PACKAGE_INSTALL, "evil-utils 99.0 installed", host="h3", user="dan", package="evil-utils",
           version="99.0", index_url="http://198.51.100.20/simple", file_path=f"{site}/evil_utils-99.0.dist-info"),
        ev(0, Category.PACKAGE_INSTALL, "numpy 2.1 installed", host="h3", user="dan", package="numpy",
           version="2.1", index_url="https://pypi.org/simple", file_path=f"{site}/numpy-2.1.dist-info"),
        ev(100, Category.COMMAND, "python: import evil_utils", host="h3", user="dan", cmdline="import evil_utils",
           file_path="/home/dan/.python_history"),
        ev(101, Category.COMMAND, "python: import numpy", host="h3", user="dan", cmdline="import numpy as np",
           file_path="/home/dan/.python_history"),
        ev(130, Category.PERSISTENCE, "crontab", host="h3", user="dan", file_path="/var/spool/cron/crontabs/dan"),
    ]
    rep = report(events)
    (chain,) = rep.chains
    assert [s["kind"] for s in chain["steps"]] == ["package_install", "load", "persistence"]
    assert "numpy" not in " ".join(s["path"] for s in chain["steps"])


def test_pip_install_in_the_window_links_only_from_an_untrusted_index():
    site = "/home/alice/.local/lib/python3.11/site-packages"
    events = [dataclasses.replace(e, message="pickle calls posix.system", extra={})
              if e.category == Category.FINDING and e.verdict == "malicious" else e
              for e in sc.deadbox_events() if e.category != Category.PERSISTENCE]
    events += [
        ev(50, Category.PACKAGE_INSTALL, "tqdm", user="alice", package="tqdm", version="4.67.1",
           file_path=f"{site}/tqdm-4.67.1.dist-info"),
        ev(55, Category.PACKAGE_INSTALL, "gpu-agent", user="alice", package="gpu-agent", version="99.4.2",
           index_url="http://203.0.113.7:8080/simple/", file_path=f"{site}/gpu_agent-99.4.2.dist-info"),
    ]
    (chain,) = report(events).chains
    assert [(s["kind"], s["path"]) for s in chain["steps"][2:]] == [
        ("pip_install", f"{site}/gpu_agent-99.4.2.dist-info")]


def test_install_after_an_extra_index_config_counts_as_from_that_index():
    site = "/home/bob/.local/lib/python3.11/site-packages"
    events = [
        *sc.download(0, "tiny/phi", "/home/bob/.cache/huggingface/hub/models--tiny--phi", "f" * 64,
                     name="modeling_phi.py", user="bob"),
        sc.verdict(0, "/home/bob/.cache/huggingface/hub/models--tiny--phi/snapshots/" + sc.EVIL_REV
                   + "/modeling_phi.py", "f" * 64, "malicious", "writes a systemd unit"),
        ev(10, Category.COMMAND, "ipython", user="bob", cmdline='AutoModel.from_pretrained("tiny/phi")',
           file_path="/home/bob/.ipython/profile_default/history.sqlite"),
        ev(12, Category.CONFIG, "pip.conf", user="bob", file_path="/home/bob/.config/pip/pip.conf",
           extra={"extra_index_url": "http://203.0.113.7:8080/simple/"}),
        ev(30, Category.PACKAGE_INSTALL, "agent", user="bob", package="gpu-monitor-agent", version="99.4.2",
           file_path=f"{site}/gpu_monitor_agent-99.4.2.dist-info"),
    ]
    (chain,) = report(events).chains
    kinds = [s["kind"] for s in chain["steps"]]
    assert kinds == ["download", "load", "pip_config", "pip_install"]
    assert "pip.conf" in chain["steps"][-1]["reason"]


def test_chain_ids_and_order_are_deterministic():
    a = report(sc.deadbox_events() + sc.live_events()).findings_json()
    b = report(list(reversed(sc.deadbox_events() + sc.live_events()))).findings_json()
    assert [c["id"] for c in a["chains"]] == [c["id"] for c in b["chains"]]
    assert a == b
