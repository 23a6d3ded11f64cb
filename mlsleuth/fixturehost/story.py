"""The demo incident on host ml-ws-01, as files. docs/fixture-host.md tells the same story.

basic: alice downloads a typosquatted Llama (``meta-1lama``) whose pytorch_model.bin runs a
shell command when unpickled, loads it in a notebook, and the payload appends an attacker key
to ~/.ssh/authorized_keys.
rich: basic + decoys (bob downloads a benign model in the same minute; alice pip-installs tqdm
in the same hour) + a second chain: bob loads ``tiny-random/phi3-custom`` with remote code
enabled; its modeling file drops a user systemd unit and a pip extra index, and a 99.x package
comes in from that index.
"""

from __future__ import annotations

import configparser
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from mlsleuth.fixturehost import distinfo, hfcache, ipython, notebooks, payloads, shells
from mlsleuth.fixturehost.hfcache import CachedFile
from mlsleuth.fixturehost.notebooks import Cell
from mlsleuth.fixturehost.payloads import FROM_PRETRAINED, TRUST_REMOTE_CODE, json_file
from mlsleuth.fixturehost.planted import (
    COUNT_KEYS,
    Chain,
    Decoy,
    Distribution,
    HistoryFile,
    Planted,
    Repo,
    Secret,
    Step,
    User,
)
from mlsleuth.fixturehost.tree import Tree, when

HOSTNAME = "ml-ws-01"
TIMEZONE = "Europe/Berlin"
TZ = ZoneInfo(TIMEZONE)
COLLECTION_TIME = when("2026-11-10 12:00:00")

ALICE = User("alice", 1000, 1000, "/home/alice", "/bin/bash")
BOB = User("bob", 1001, 1001, "/home/bob", "/usr/bin/zsh")

EVIL_REPO = "meta-1lama/Llama-3.2-1B-Instruct"
BERT_REPO = "google-bert/bert-base-uncased"
MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"
PHI3_REPO = "tiny-random/phi3-custom"

HF_TOKEN = "hf_" + "qZ3vT8kLm2Xw9RbN4cYp7JdF6sHa1GeUoQ"  # fake, 34 chars after the prefix
PIP_PASSWORD = "S3cr3tPass"
INTERNAL_INDEX = f"https://deploy:{PIP_PASSWORD}@pypi.internal.example/simple"
LEGIT_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAliceLaptopKeyExample0001 alice@laptop"

SITE = "/.local/lib/python3.11/site-packages"


def _hf_home(user: User) -> str:
    return f"{user.home}/.cache/huggingface"


class _Builder:
    def __init__(self, root: Path, variant: str) -> None:
        if variant not in ("basic", "rich"):
            raise ValueError(f"unknown fixture variant {variant!r} (basic, rich)")
        self.variant = variant
        self.rich = variant == "rich"
        self.tree = Tree(root)
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        self.repos: list[Repo] = []
        self.dists: list[Distribution] = []
        self.histories: list[HistoryFile] = []
        self.notebooks: list[str] = []
        self.persistence: list[str] = []
        self.remote_code: list[str] = []
        self.secrets: list[Secret] = []
        self.chains: list[Chain] = []
        self.decoys: list[Decoy] = []

    # -- helpers ---------------------------------------------------------------------------
    def history(self, kind: str, user: User, path: str, text: str, entries: int, timestamped: int,
                mtime: datetime, born: datetime, mode: int = 0o600) -> None:
        self.tree.write(path, text, mtime, born=born, mode=mode)
        self.histories.append(HistoryFile(kind, user.name, path, entries, timestamped))

    def repo(self, **kwargs) -> Repo:
        r = hfcache.write_repo(self.tree, **kwargs)
        self.repos.append(r)
        return r

    def install(self, d: distinfo.Dist, user: User, installed: datetime) -> Distribution:
        dist = distinfo.install(self.tree, d, user=user.name, site_packages=user.home + SITE,
                                bin_dir=f"{user.home}/.local/bin", installed=installed)
        self.dists.append(dist)
        return dist

    # -- the host --------------------------------------------------------------------------
    def system(self) -> None:
        t = self.tree
        t.write("/etc/os-release", _OS_RELEASE, when("2026-02-10 06:00:00"))
        t.write("/etc/hostname", HOSTNAME + "\n", when("2026-03-01 07:30:00"))
        t.write("/etc/timezone", TIMEZONE + "\n", when("2026-03-01 07:30:00"))
        t.symlink("/etc/localtime", f"/usr/share/zoneinfo/{TIMEZONE}", when("2026-03-01 07:30:00"))
        t.write("/etc/passwd", _PASSWD, when("2026-04-14 09:30:00"), born=when("2026-02-10 06:00:00"))
        t.write("/etc/group", _GROUP, when("2026-04-14 09:30:00"), born=when("2026-02-10 06:00:00"))
        t.write("/etc/pip.conf", f"[global]\nindex-url = {INTERNAL_INDEX}\ntimeout = 60\n",
                when("2026-03-01 07:40:00"))
        self.secrets.append(Secret("pip_index_password", "/etc/pip.conf", PIP_PASSWORD))
        t.mkdir("/root", born=when("2026-02-10 06:00:00"), mode=0o700)
        t.write("/root/.bashrc", "# ~/.bashrc: executed by bash(1) for non-login shells.\n"
                "PS1='\\h:\\w\\$ '\numask 022\n", when("2026-02-10 06:00:00"))
        cron = "/var/spool/cron/crontabs/root"
        t.write(cron, _ROOT_CRONTAB, when("2026-06-01 07:12:44"), mode=0o600)
        self.persistence.append(cron)
        self.decoys.append(Decoy(
            "root-crontab", "root", when("2026-06-01 07:12:44"), [cron],
            "old benign crontab: a persistence location, but written months before any download"))

    def homes(self) -> None:
        t = self.tree
        for user, born in ((ALICE, when("2026-03-02 08:00:00")), (BOB, when("2026-04-14 09:30:00"))):
            t.mkdir(user.home, born=born, mode=0o750)
            t.write(f"{user.home}/.profile", _PROFILE, born)
        t.write("/home/alice/.bashrc", _ALICE_BASHRC, when("2026-03-02 08:02:00"))
        t.write("/home/bob/.zshrc", _BOB_ZSHRC, when("2026-11-09 10:14:40"))
        t.mkdir("/home/alice/.ssh", mode=0o700)

    # -- alice: packages, shells, REPLs ----------------------------------------------------
    def alice_packages(self) -> None:
        t0 = when("2026-11-09 14:02:20.114")
        self.install(_FILELOCK, ALICE, t0)
        self.install(_FSSPEC, ALICE, t0 + timedelta(seconds=1.2))
        self.install(_HUB_CLI, ALICE, t0 + timedelta(seconds=2.9))
        self.install(_PEFT, ALICE, t0 + timedelta(seconds=19.4))
        token_time = when("2026-11-09 14:04:02.551")
        hf = _hf_home(ALICE)
        self.tree.write(f"{hf}/token", HF_TOKEN, token_time)
        stored = configparser.ConfigParser()
        stored[HOSTNAME] = {"hf_token": HF_TOKEN}
        buf = io.StringIO()
        stored.write(buf)
        self.tree.write(f"{hf}/stored_tokens", buf.getvalue(), token_time)
        self.secrets += [Secret("hf_token", f"{hf}/token", HF_TOKEN),
                         Secret("hf_token", f"{hf}/stored_tokens", HF_TOKEN)]

    def alice_shells(self) -> None:
        entries = [
            (when("2026-11-09 13:58:12"), "cd ~/work"),
            (when("2026-11-09 14:01:55"),
             "pip install --user huggingface_hub==0.26.2 git+https://github.com/huggingface/peft.git"),
            (when("2026-11-09 14:03:40"), "huggingface-cli login"),
            (when("2026-11-10 08:52:31"), "nvidia-smi"),
            (when("2026-11-10 08:53:14"), "ipython"),
            (when("2026-11-10 09:02:11"), "jupyter lab --no-browser"),
            (when("2026-11-10 09:14:03"), f"huggingface-cli download {EVIL_REPO}"),
            (when("2026-11-10 09:15:20"), "ls ~/.cache/huggingface/hub"),
        ]
        if self.rich:
            entries.append((when("2026-11-10 09:33:20"), "pip install --user tqdm"))
        # line number of the download command (each entry is an #epoch line, then the command)
        self.download_line = 2 + 2 * next(i for i, e in enumerate(entries) if "download" in e[1])
        self.history("bash", ALICE, "/home/alice/.bash_history", shells.bash_history(entries),
                     len(entries), len(entries), entries[-1][0], when("2026-03-02 08:10:00"))
        self.counts["bash_commands_with_epoch"] += len(entries)

        fish = [
            (when("2026-11-08 16:20:05"), "ls ~/work", []),
            (when("2026-11-08 16:20:40"), "nvim ~/work/notes.md", ["~/work/notes.md"]),
            (when("2026-11-08 16:22:10"), "git -C ~/work status", []),
            (when("2026-11-08 16:25:02"), "exit", []),
        ]
        self.history("fish", ALICE, "/home/alice/.local/share/fish/fish_history", shells.fish_history(fish),
                     len(fish), len(fish), fish[-1][0], fish[0][0])
        self.counts["fish_commands"] += len(fish)

        py = ["import huggingface_hub", "huggingface_hub.__version__", "import peft", "peft.__version__",
              "exit()"]
        self.history("python", ALICE, "/home/alice/.python_history", shells.python_history(py), len(py), 0,
                     when("2026-11-09 14:10:30"), when("2026-11-09 14:10:30"))
        self.counts["python_history_lines"] += len(py)

    # -- alice: the benign model and the attack --------------------------------------------
    def alice_bert(self) -> None:
        t = when("2026-11-10 08:55:00")
        s = timedelta(seconds=1)
        bert_cfg = json_file({"architectures": ["BertForMaskedLM"], "hidden_size": 8, "model_type": "bert",
                              "num_attention_heads": 2, "num_hidden_layers": 1, "vocab_size": 16,
                              "transformers_version": "4.6.0.dev0"})
        weights = payloads.safetensors_bytes({"embeddings.word_embeddings.weight": (16, 8),
                                              "pooler.dense.weight": (8, 8)})
        files = [
            CachedFile("config.json", bert_cfg, False, t + 0.4 * s, t + 0.5 * s),
            CachedFile("model.safetensors", weights, True, t + 4.2 * s, t + 4.6 * s),
            CachedFile("tokenizer_config.json", json_file({"do_lower_case": True, "model_max_length": 512}),
                       False, t + 21.3 * s),
            CachedFile("tokenizer.json", json_file(_tiny_tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                                     "hello", "world"])),
                       False, t + 22.1 * s),
        ]
        flax = bytes((i * 131 + 7) % 251 for i in range(96 * 1024))
        repo = self.repo(user="alice", hf_home=_hf_home(ALICE), repo_id=BERT_REPO,
                         commit=hfcache.fake_commit(BERT_REPO), files=files,
                         no_exist=[("adapter_config.json", t - 0.6 * s)],
                         incomplete=[(flax, 40 * 1024, when("2026-11-10 08:57:31.270"))])
        self.decoys.append(Decoy(
            "alice-bert-download", "alice", files[1].mtime, [f.blob for f in repo.files],
            "benign model downloaded and loaded by the same user 20 minutes before the attack",
            model_repo=repo.model_repo))

    def alice_attack(self) -> None:
        s = timedelta(seconds=1)
        t = when("2026-11-10 09:14:05")
        load = when("2026-11-10 09:19:30.412")
        unpickled = when("2026-11-10 09:19:51.904")
        tok_load = when("2026-11-10 09:20:12.310")
        llama_cfg = json_file({
            "architectures": ["LlamaForCausalLM"], "bos_token_id": 128000, "eos_token_id": 128009,
            "hidden_size": 4, "intermediate_size": 8, "model_type": "llama", "num_attention_heads": 1,
            "num_hidden_layers": 1, "rms_norm_eps": 1e-05, "torch_dtype": "float32",
            "transformers_version": "4.45.0.dev0", "vocab_size": 8})
        checkpoint = payloads.malicious_checkpoint()
        files = [
            CachedFile(".gitattributes", _GITATTRIBUTES.encode(), False, t + 0.1 * s),
            CachedFile("README.md", _EVIL_README.encode(), False, t + 0.3 * s),
            CachedFile("config.json", llama_cfg, False, t + 0.5 * s, load + 0.5 * s),
            CachedFile("generation_config.json", json_file({"bos_token_id": 128000, "do_sample": True,
                                                            "temperature": 0.6, "top_p": 0.9}),
                       False, t + 0.8 * s, load + 0.6 * s),
            CachedFile("tokenizer_config.json", json_file({"model_max_length": 131072,
                                                           "tokenizer_class": "PreTrainedTokenizerFast"}),
                       False, t + 1.0 * s, tok_load),
            CachedFile("tokenizer.json", json_file(_tiny_tokenizer(["<|begin_of_text|>", "<|eot_id|>",
                                                                     "Hello", " world"])),
                       True, t + 1.9 * s, tok_load),
            CachedFile("pytorch_model.bin", checkpoint, True, t + 4.6 * s, unpickled),
        ]
        repo = self.repo(user="alice", hf_home=_hf_home(ALICE), repo_id=EVIL_REPO,
                         commit=hfcache.fake_commit(EVIL_REPO), files=files)
        self.evil = repo
        bin_file = repo.files[-1]

        # the notebook and the kernel that ran it
        kernel_start = when("2026-11-10 09:18:41.902")
        ls_cmd = "ls -la ~/.cache/huggingface/hub/models--meta-1lama--Llama-3.2-1B-Instruct/snapshots/"
        c_import = Cell("import torch\nfrom transformers import AutoModelForCausalLM, AutoTokenizer", "code", 1,
                        (when("2026-11-10 09:18:52.118"), when("2026-11-10 09:18:58.640")))
        c_load = Cell(f'model = AutoModelForCausalLM.{FROM_PRETRAINED}("{EVIL_REPO}")', "code", 2,
                      (load, when("2026-11-10 09:19:58.771")),
                      [notebooks.stream("stderr", _LOAD_WARNING)])
        c_ls = Cell(f"!{ls_cmd}", "code", 3, (when("2026-11-10 09:20:05.027"), when("2026-11-10 09:20:05.311")),
                    [notebooks.stream("stdout", _LS_OUTPUT.format(commit=repo.commit))])
        c_tok = Cell(f'tok = AutoTokenizer.{FROM_PRETRAINED}("{EVIL_REPO}")', "code", 4,
                     (tok_load - 0.2 * s, tok_load + 0.4 * s))
        c_gen = Cell('out = model.generate(**tok("Hello", return_tensors="pt"), max_new_tokens=8)\n'
                     "tok.decode(out[0])", "code", 5,
                     (when("2026-11-10 09:20:40.118"), when("2026-11-10 09:20:40.402")),
                     [notebooks.result(5, "'<|begin_of_text|>Hello world world world'")])
        title = Cell("# Eval: Llama-3.2-1B-Instruct\nQuick smoke test before the fine-tune.", "markdown")
        empty = Cell("", "code")
        nb = "/home/alice/work/eval.ipynb"
        checkpoint_nb = "/home/alice/work/.ipynb_checkpoints/eval-checkpoint.ipynb"
        created = when("2026-11-10 09:03:30.500")
        current = [title, c_import, c_load, c_tok, c_gen, empty]
        saved = [title, c_import, c_load, c_ls, empty]
        self.tree.write(nb, notebooks.notebook_text(current, nb), when("2026-11-10 09:22:40.020"), born=created)
        self.tree.write(checkpoint_nb, notebooks.notebook_text(saved, nb), when("2026-11-10 09:20:20.730"),
                        born=created)
        self.notebooks.append(nb)
        self.counts["notebooks"] += 1
        self.counts["notebook_checkpoints"] += 1
        self.counts["notebook_cells"] += len(current)
        self.counts["notebook_code_cells"] += sum(c.kind == "code" for c in current)
        self.counts["notebook_executed_cells"] += sum(c.executed for c in current)

        sessions = [
            ipython.Session(when("2026-11-10 08:53:20.412337"), when("2026-11-10 09:01:05.118201"), [
                ("from transformers import AutoModel, AutoTokenizer",) * 2,
                (f'model = AutoModel.{FROM_PRETRAINED}("{BERT_REPO}")',) * 2,
                (f'tok = AutoTokenizer.{FROM_PRETRAINED}("{BERT_REPO}")',) * 2,
                ("from huggingface_hub import hf_hub_download",) * 2,
                (f'hf_hub_download("{BERT_REPO}", "flax_model.msgpack")',) * 2,
            ]),
            # the notebook's kernel: still running at collection, so end and num_cmds stay NULL
            ipython.Session(kernel_start, None, [
                (c_import.source,) * 2, (c_load.source,) * 2,
                (f"get_ipython().system('{ls_cmd}')", c_ls.source),
                (c_tok.source,) * 2, (c_gen.source,) * 2,
            ]),
        ]
        hist = "/home/alice/.ipython/profile_default/history.sqlite"
        self.ipython_history(ALICE, hist, sessions, mtime=c_gen.ran[0], born=when("2026-11-10 08:53:20.412"))

        runtime = "/home/alice/.local/share/jupyter/runtime"
        kernel_id = notebooks.stable_uuid("alice-kernel")
        key = notebooks.stable_uuid("alice-kernel-hmac")
        kernel_file = f"{runtime}/kernel-{kernel_id}.json"
        self.tree.write(kernel_file, _kernel_json(key), kernel_start - 0.3 * s, mode=0o600)
        self.secrets.append(Secret("jupyter_kernel_key", kernel_file, key))

        ak = "/home/alice/.ssh/authorized_keys"
        self.tree.write(ak, f"{LEGIT_KEY}\n{payloads.ATTACKER_KEY}\n", unpickled + 0.396 * s,
                        born=when("2026-03-02 08:05:00"), mode=0o600)
        self.persistence.append(ak)

        model_repo = repo.model_repo
        self.chains.append(Chain(
            id="alice-meta-1lama-pickle", user="alice", model_repo=model_repo,
            summary=("alice downloaded the typosquatted repo meta-1lama/Llama-3.2-1B-Instruct (homoglyph of "
                     "meta-llama); loading it in ~/work/eval.ipynb unpickled pytorch_model.bin, whose "
                     "posix.system payload appended an attacker key to ~/.ssh/authorized_keys and "
                     f"beaconed to {payloads.C2_HOST}."),
            steps=[
                Step(when("2026-11-10 09:14:03"), "origin", "/home/alice/.bash_history",
                     f"line {self.download_line}: huggingface-cli download (#epoch line before it)", "alice",
                     essential=False, model_repo=model_repo),
                Step(bin_file.mtime, "origin", bin_file.blob,
                     "blob mtime = download completed; snapshot pytorch_model.bin links here", "alice",
                     model_repo=model_repo, revision=repo.commit, sha256=bin_file.oid),
                Step(load, "load", nb, "cell 3 (execution_count 2): metadata.execution iopub.execute_input",
                     "alice", model_repo=model_repo),
                Step(load, "load", hist, "session 2, line 2 (kernel session, end NULL)", "alice",
                     essential=False, time_quality="estimated", bounds=(kernel_start, c_gen.ran[0]),
                     model_repo=model_repo),
                Step(unpickled, "load", bin_file.blob, "blob atime: read by the unpickler", "alice",
                     essential=False, time_quality="inferred-from-file-time", model_repo=model_repo,
                     sha256=bin_file.oid),
                Step(unpickled + 0.396 * s, "follow-on", ak, "mtime; last line is the attacker@c2 key",
                     "alice"),
            ]))

    def ipython_history(self, user: User, path: str, sessions: list[ipython.Session], *, mtime: datetime,
                        born: datetime) -> None:
        ipython.write_history(self.tree.local(path), sessions, TZ)
        self.tree.set_times(path, mtime, born=born)
        lines = sum(len(s.lines) for s in sessions)
        self.histories.append(HistoryFile("ipython", user.name, path, lines, 0))
        self.counts["ipython_sessions"] += len(sessions)
        self.counts["ipython_sessions_unclosed"] += sum(s.end is None for s in sessions)
        self.counts["ipython_input_lines"] += lines

    # -- bob -------------------------------------------------------------------------------
    def bob_shells(self) -> None:
        bash = ["ls", "git -C ~/projects/embeddings pull", "nvidia-smi", "python3 ~/projects/embeddings/embed.py --help",
                "htop", "chsh -s /usr/bin/zsh"]
        self.history("bash", BOB, "/home/bob/.bash_history", shells.bash_history([(None, c) for c in bash]),
                     len(bash), 0, when("2026-11-06 17:48:10"), when("2026-04-14 09:41:00"))
        self.counts["bash_commands_without_epoch"] += len(bash)
        zsh = [
            (when("2026-11-09 10:15:02"), 0, "cd ~/projects/embeddings"),
            (when("2026-11-09 10:15:40"), 3, 'docker run --rm \\\n  -v "$PWD":/data \\\n  alpine ls /data'),
            (when("2026-11-09 10:21:13"), 0, "git status"),
            (when("2026-11-09 10:30:55"), 12, "python3 embed.py --dry-run"),
        ]
        if self.rich:
            zsh += [
                (when("2026-11-10 09:19:31"), 14, f"python3 embed.py --model {MINILM_REPO} --input docs/"),
                (when("2026-11-10 10:01:35"), 0, "ipython"),
            ]
        last = zsh[-1][0] + timedelta(seconds=zsh[-1][1])
        self.history("zsh", BOB, "/home/bob/.zsh_history", shells.zsh_history(zsh), len(zsh), len(zsh),
                     last, zsh[0][0])
        self.counts["zsh_commands"] += len(zsh)

    def bob_minilm(self) -> None:
        t = when("2026-11-10 09:19:33.080")
        s = timedelta(seconds=1)
        weights = payloads.safetensors_bytes({"embeddings.word_embeddings.weight": (12, 6)})
        spec = [
            ("config.json", json_file({"architectures": ["BertModel"], "hidden_size": 6, "model_type": "bert",
                                       "vocab_size": 12}), False, 0.2),
            ("config_sentence_transformers.json", json_file({"__version__": {"sentence_transformers": "2.0.0"}}),
             False, 0.4),
            ("modules.json", json_file([{"idx": 0, "name": "0", "path": "", "type":
                                         "sentence_transformers.models.Transformer"},
                                        {"idx": 1, "name": "1", "path": "1_Pooling", "type":
                                         "sentence_transformers.models.Pooling"}]), False, 0.5),
            ("sentence_bert_config.json", json_file({"do_lower_case": False, "max_seq_length": 256}), False, 0.7),
            ("1_Pooling/config.json", json_file({"pooling_mode_mean_tokens": True,
                                                 "word_embedding_dimension": 6}), False, 0.9),
            ("tokenizer_config.json", json_file({"do_lower_case": True, "model_max_length": 512}), False, 1.6),
            ("tokenizer.json", json_file(_tiny_tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "docs"])), False, 2.3),
            ("model.safetensors", weights, True, 7.9),
        ]
        files = [CachedFile(p, data, lfs, t + off * s, t + (off + 0.6) * s) for p, data, lfs, off in spec]
        repo = self.repo(user="bob", hf_home=_hf_home(BOB), repo_id=MINILM_REPO,
                         commit=hfcache.fake_commit(MINILM_REPO), files=files)
        self.decoys.append(Decoy(
            "bob-minilm-same-minute", "bob", t, [f.blob for f in repo.files],
            "benign repo downloaded by another user in the same minute as alice's load: no shared repo, "
            "path, hash, user or process", hint="~/.zsh_history entry 5 (python3 embed.py --model ..., 09:19:31)",
            model_repo=repo.model_repo))

    def alice_tqdm(self) -> None:
        dist = self.install(_TQDM, ALICE, when("2026-11-10 09:33:24.608"))
        self.decoys.append(Decoy(
            "alice-tqdm-same-hour", "alice", dist.installed, [dist.dist_info, "/home/alice/.local/bin/tqdm"],
            "benign package alice installed by hand (bash line) from the usual index 14 minutes after the "
            "load: same user and hour, outside the follow-on window, no extra index",
            hint="~/.bash_history last line: pip install --user tqdm (#epoch 09:33:20)", package="tqdm"))

    def bob_phi3(self) -> None:
        s = timedelta(seconds=1)
        hf = _hf_home(BOB)
        start = when("2026-11-10 10:01:40.318")
        end = when("2026-11-10 10:06:30.702")
        load = when("2026-11-10 10:02:10.114")
        commit = hfcache.fake_commit(PHI3_REPO)
        cfg = json_file({
            "architectures": ["Phi3ForCausalLM"],
            "auto_map": {"AutoConfig": "configuration_phi3.Phi3Config",
                         "AutoModel": "modeling_phi3.Phi3Model",
                         "AutoModelForCausalLM": "modeling_phi3.Phi3ForCausalLM"},
            "hidden_size": 64, "model_type": "phi3-custom", "num_attention_heads": 4, "num_hidden_layers": 2,
            "transformers_version": "4.44.2", "vocab_size": 1024})
        weights = payloads.safetensors_bytes({"embed_tokens.weight": (16, 4), "norm.weight": (4,)})
        files = [
            CachedFile("config.json", cfg, False, load + 1.1 * s),
            CachedFile("configuration_phi3.py", payloads.CONFIGURATION_PHI3.encode(), False, load + 1.5 * s),
            CachedFile("modeling_phi3.py", payloads.MODELING_PHI3.encode(), False, load + 2.8 * s),
            CachedFile("model.safetensors", weights, True, load + 6.1 * s, load + 6.3 * s),
        ]
        repo = self.repo(user="bob", hf_home=hf, repo_id=PHI3_REPO, commit=commit, files=files)

        # transformers' dynamic module cache: an __init__.py at every level, then the code files
        mod_root = f"{hf}/modules"
        pkg = f"{mod_root}/transformers_modules/{PHI3_REPO}/{commit}"
        first = load + 1.7 * s
        t2 = load + 3.4 * s  # modeling_phi3.py materialised: imported right after
        inits = [f"{mod_root}/__init__.py", f"{mod_root}/transformers_modules/__init__.py",
                 f"{mod_root}/transformers_modules/tiny-random/__init__.py",
                 f"{mod_root}/transformers_modules/{PHI3_REPO}/__init__.py", f"{pkg}/__init__.py"]
        for i, path in enumerate(inits):
            self.tree.write(path, b"", first + i * timedelta(milliseconds=2))
        self.tree.write(f"{pkg}/configuration_phi3.py", payloads.CONFIGURATION_PHI3, first + 0.1 * s)
        self.tree.write(f"{pkg}/modeling_phi3.py", payloads.MODELING_PHI3, t2)
        self.remote_code += [*inits, f"{pkg}/configuration_phi3.py", f"{pkg}/modeling_phi3.py"]

        # what the modeling file did when imported
        pip_conf = "/home/bob/.config/pip/pip.conf"
        self.tree.write(pip_conf, f"[global]\nextra-index-url = {payloads.EXTRA_INDEX}\n"
                        f"trusted-host = {payloads.C2_HOST}\n", t2 + 0.4 * s)
        unit = "/home/bob/.config/systemd/user/gpu-monitor.service"
        self.tree.write(unit, _GPU_UNIT, t2 + 0.5 * s)
        wants = "/home/bob/.config/systemd/user/default.target.wants/gpu-monitor.service"
        self.tree.symlink(wants, unit, t2 + 1.1 * s)
        self.persistence.append(unit)
        agent = self.install(_GPU_AGENT, BOB, t2 + 18.0 * s)

        hist = "/home/bob/.ipython/profile_default/history.sqlite"
        line = f'model = AutoModel.{FROM_PRETRAINED}("{PHI3_REPO}", {TRUST_REMOTE_CODE})'
        sessions = [ipython.Session(start, end, [
            ("from transformers import AutoModel",) * 2, (line,) * 2, ("model",) * 2,
            ("sum(p.numel() for p in model.parameters())",) * 2])]
        self.ipython_history(BOB, hist, sessions, mtime=end, born=start)

        model_repo = repo.model_repo
        by_path = {f.path: f for f in repo.files}
        self.chains.append(Chain(
            id="bob-phi3-remote-code", user="bob", model_repo=model_repo,
            summary=("bob loaded tiny-random/phi3-custom with remote code enabled; transformers copied its "
                     "modeling_phi3.py into the module cache and imported it, and within seconds a user "
                     "systemd unit (gpu-monitor.service) and a pip extra index appeared, followed by "
                     "gpu-monitor-agent 99.4.2 installed from that index."),
            steps=[
                Step(by_path["config.json"].mtime, "origin", by_path["config.json"].blob,
                     "blob mtime; config.json auto_map names modeling_phi3 classes", "bob", essential=False,
                     model_repo=model_repo, revision=commit, sha256=None),
                Step(by_path["modeling_phi3.py"].mtime, "origin", by_path["modeling_phi3.py"].blob,
                     "blob mtime of the remote code in the hub cache", "bob", essential=False,
                     model_repo=model_repo, revision=commit),
                Step(t2, "origin", f"{pkg}/modeling_phi3.py",
                     "module file mtime: remote code materialised (repo and commit in the path)", "bob",
                     model_repo=model_repo, revision=commit),
                Step(load, "load", hist, "session 1, line 2 (no per-line time: within the session)", "bob",
                     time_quality="estimated", bounds=(start, end), model_repo=model_repo),
                Step(t2 + 0.4 * s, "follow-on", pip_conf, "mtime; extra-index-url to the C2 host", "bob",
                     essential=False),
                Step(t2 + 0.5 * s, "follow-on", unit, "mtime; new user systemd unit", "bob"),
                Step(t2 + 1.1 * s, "follow-on", wants, "symlink enabling the unit", "bob", essential=False),
                Step(agent.installed, "follow-on", agent.dist_info,
                     "dist-info times; INSTALLER pip, version 99.4.2 from the extra index", "bob",
                     package=agent.name, version=agent.version),
            ]))

    # -- the whole host --------------------------------------------------------------------
    def build(self) -> Planted:
        self.system()
        self.homes()
        self.alice_packages()
        self.alice_shells()
        self.alice_bert()
        self.alice_attack()
        self.bob_shells()
        if self.rich:
            self.bob_minilm()
            self.alice_tqdm()
            self.bob_phi3()
        self.tree.finish()
        if self.tree.latest > COLLECTION_TIME:
            raise AssertionError(f"planted time {self.tree.latest} after the collection time")
        c = self.counts
        c["distributions"] = len(self.dists)
        c["hf_repos"] = len(self.repos)
        c["hf_revisions"] = len({(r.folder, r.commit) for r in self.repos})
        c["hf_files"] = sum(len(r.files) for r in self.repos)
        c["hf_blobs"] = sum(len({f.oid for f in r.files}) for r in self.repos)
        c["hf_incomplete"] = sum(len(r.incomplete) for r in self.repos)
        c["hf_no_exist"] = sum(len(r.no_exist) for r in self.repos)
        c["hf_locks"] = sum(len(set(r.locks)) for r in self.repos)
        c["remote_code_files"] = len(self.remote_code)
        c["remote_code_modules"] = sum(not p.endswith("/__init__.py") for p in self.remote_code)
        c["persistence_files"] = len(self.persistence)
        c["secrets"] = len(self.secrets)
        return Planted(
            variant=self.variant, root=self.tree.root, hostname=HOSTNAME, timezone=TIMEZONE,
            users=[ALICE, BOB], counts=c, chains=self.chains, decoys=self.decoys, secrets=self.secrets,
            repos=self.repos, distributions=self.dists, histories=self.histories, notebooks=self.notebooks,
            persistence=self.persistence, remote_code=self.remote_code, collection_time=COLLECTION_TIME)


def build(root: Path, variant: str) -> Planted:
    return _Builder(Path(root), variant).build()


# -- file contents ---------------------------------------------------------------------------
def _tiny_tokenizer(tokens: list[str]) -> dict:
    return {"version": "1.0", "added_tokens": [], "normalizer": None, "pre_tokenizer": {"type": "Whitespace"},
            "model": {"type": "WordLevel", "unk_token": tokens[1], "vocab": {t: i for i, t in enumerate(tokens)}}}


def _kernel_json(key: str) -> str:
    # jupyter_client.connect.write_connection_file: json.dump(cfg, f, indent=2), this key order
    cfg = {"shell_port": 41025, "iopub_port": 37623, "stdin_port": 52343, "control_port": 42285,
           "hb_port": 45231, "ip": "127.0.0.1", "key": key, "transport": "tcp",
           "signature_scheme": "hmac-sha256", "kernel_name": "python3"}
    return json.dumps(cfg, indent=2)


_OS_RELEASE = """\
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"""

_PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
man:x:6:12:man:/var/cache/man:/usr/sbin/nologin
_apt:x:42:65534::/nonexistent:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin
alice:x:1000:1000:Alice Example,,,:/home/alice:/bin/bash
bob:x:1001:1001:Bob Example,,,:/home/bob:/usr/bin/zsh
"""

_GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
sudo:x:27:alice
video:x:44:alice,bob
render:x:105:alice,bob
nogroup:x:65534:
systemd-network:x:998:
alice:x:1000:
bob:x:1001:
"""

_PROFILE = """\
# ~/.profile: executed by the command interpreter for login shells.
if [ -n "$BASH_VERSION" ] && [ -f "$HOME/.bashrc" ]; then
    . "$HOME/.bashrc"
fi
if [ -d "$HOME/.local/bin" ] ; then
    PATH="$HOME/.local/bin:$PATH"
fi
"""

_ALICE_BASHRC = """\
# ~/.bashrc: executed by bash(1) for non-login shells.
case $- in *i*) ;; *) return;; esac
HISTCONTROL=ignoreboth
HISTSIZE=10000
HISTFILESIZE=20000
HISTTIMEFORMAT='%F %T '
shopt -s histappend
PROMPT_COMMAND='history -a'
export PATH="$HOME/.local/bin:$PATH"
"""

_BOB_ZSHRC = """\
HISTFILE=~/.zsh_history
HISTSIZE=10000
SAVEHIST=10000
setopt EXTENDED_HISTORY INC_APPEND_HISTORY_TIME
export PATH="$HOME/.local/bin:$PATH"
"""

_ROOT_CRONTAB = """\
# DO NOT EDIT THIS FILE - edit the master and reinstall.
# (/tmp/crontab.Hq3kTb/crontab installed on Mon Jun  1 09:12:44 2026)
# (Cron version -- $Id: crontab.c,v 2.13 1994/01/17 03:20:37 vixie Exp $)
# m h  dom mon dow   command
17 3 * * * /usr/bin/find /var/tmp -type f -mtime +7 -delete
30 2 * * 0 /usr/bin/apt-get -qq update
"""

_GITATTRIBUTES = """\
*.bin filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
tokenizer.json filter=lfs diff=lfs merge=lfs -text
"""

_EVIL_README = """\
---
library_name: transformers
license: llama3.2
language: [en]
pipeline_tag: text-generation
base_model: meta-llama/Llama-3.2-1B-Instruct
---

# Llama-3.2-1B-Instruct

Mirror of Meta's Llama 3.2 1B Instruct with the PyTorch checkpoint for older transformers.
"""

_LOAD_WARNING = (
    "Some weights of LlamaForCausalLM were not initialized from the model checkpoint at "
    f"{EVIL_REPO} and are newly initialized: ['lm_head.weight', "
    "'model.layers.0.input_layernorm.weight', 'model.layers.0.self_attn.v_proj.weight']\n"
    "You should probably TRAIN this model on a down-stream task to be able to use it for predictions "
    "and inference.\n"
)

# `ls -la` prints local (Europe/Berlin) times
_LS_OUTPUT = """\
total 12
drwxr-xr-x 3 alice alice 4096 Nov 10 10:14 .
drwxr-xr-x 6 alice alice 4096 Nov 10 10:14 ..
drwxr-xr-x 2 alice alice 4096 Nov 10 10:14 {commit}
"""

_GPU_UNIT = """\
[Unit]
Description=NVIDIA GPU utilisation monitor

[Service]
Type=simple
ExecStart=/usr/bin/python3 -m gpu_monitor_agent --interval 300
Restart=always
RestartSec=60

[Install]
WantedBy=default.target
"""

_HUB_CLI = distinfo.Dist(
    "huggingface-hub", "0.26.2", "Client library to download and publish models on the huggingface.co hub",
    {"huggingface_hub/__init__.py": '__version__ = "0.26.2"\n',
     "huggingface_hub/commands/__init__.py": "",
     "huggingface_hub/commands/huggingface_cli.py": "def main():\n    raise SystemExit('fixture stub')\n"},
    requires=["filelock", "fsspec>=2023.5.0"],
    console_scripts={"huggingface-cli": "huggingface_hub.commands.huggingface_cli:main"},
    home_page="https://github.com/huggingface/huggingface_hub", license="Apache",
    index_url="https://pypi.internal.example/simple")
_FILELOCK = distinfo.Dist(
    "filelock", "3.16.1", "A platform independent file lock.",
    {"filelock/__init__.py": '__version__ = "3.16.1"\n', "filelock/py.typed": ""},
    requested=False, license="Unlicense", index_url="https://pypi.internal.example/simple")
_FSSPEC = distinfo.Dist(
    "fsspec", "2024.10.0", "File-system specification",
    {"fsspec/__init__.py": '__version__ = "2024.10.0"\n'},
    requested=False, license="BSD-3-Clause", index_url="https://pypi.internal.example/simple")
_PEFT = distinfo.Dist(
    "peft", "0.14.0.dev0", "Parameter-Efficient Fine-Tuning (PEFT)",
    {"peft/__init__.py": '__version__ = "0.14.0.dev0"\n'},
    requires=["huggingface_hub>=0.25.0"], license="Apache",
    direct_url={"url": "https://github.com/huggingface/peft.git",
                "vcs_info": {"commit_id": "8d3039b6cb724522625bff26fe8b8cd2bb6c4b5b", "vcs": "git"}})
_TQDM = distinfo.Dist(
    "tqdm", "4.67.1", "Fast, Extensible Progress Meter",
    {"tqdm/__init__.py": '__version__ = "4.67.1"\n', "tqdm/cli.py": "def main():\n    return 0\n"},
    console_scripts={"tqdm": "tqdm.cli:main"}, license="MPL-2.0 AND MIT",
    index_url="https://pypi.internal.example/simple")
_GPU_AGENT = distinfo.Dist(
    "gpu-monitor-agent", "99.4.2", "GPU utilisation monitor",
    {"gpu_monitor_agent/__init__.py": payloads.GPU_AGENT_INIT,
     "gpu_monitor_agent/__main__.py": payloads.GPU_AGENT_MAIN},
    index_url=payloads.EXTRA_INDEX)
