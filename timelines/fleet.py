"""Fleet view (stacking): for each model blob hash and package version, on how many hosts it
appears, least frequent first: what only one machine has is where a responder looks first."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from mlsleuth.timelines import entities as ent
from mlsleuth.timelines.frame import Timeline

FLEET_COLUMNS = ("kind", "key", "name", "host_count", "hosts", "example_path")


def fleet_rows(tl: Timeline) -> list[dict[str, Any]]:
    c = tl.col
    hosts: dict[tuple[str, str], set[str]] = defaultdict(set)
    names: dict[tuple[str, str], str] = {}
    paths: dict[tuple[str, str], str] = {}
    for row, cat in enumerate(c["category"]):
        if cat == "model_download" and c["sha256"][row]:
            key = ("model_blob", c["sha256"][row].lower())
            name = ent.norm_repo(c["model_repo"][row]) or ent.repo_from_path(c["file_path"][row]) or ""
            file_name = (c["file_path"][row] or "").rsplit("/", 1)[-1]
            names.setdefault(key, f"{name}:{file_name}" if name else file_name)
        elif cat == "package_install" and c["package"][row]:
            pkg = ent.norm_package(c["package"][row]) or ""
            key = ("package", f"{pkg}=={c['version'][row] or '?'}")
            names.setdefault(key, pkg)
        else:
            continue
        hosts[key].add(c["host"][row])
        paths.setdefault(key, c["file_path"][row] or "")
    rows = [{"kind": k[0], "key": k[1], "name": names[k], "host_count": len(h),
             "hosts": ", ".join(sorted(h)), "example_path": paths[k]} for k, h in hosts.items()]
    rows.sort(key=lambda d: (d["host_count"], d["kind"], d["name"], d["key"]))
    return rows
