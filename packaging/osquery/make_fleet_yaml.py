#!/usr/bin/env python3
"""Write the FleetDM export of the osquery pack: one `kind: query` document per pack query.

    python3 packaging/osquery/make_fleet_yaml.py [--output packaging/osquery/fleet/mlsleuth-ml-hunt.yml]
    fleetctl apply -f packaging/osquery/fleet/mlsleuth-ml-hunt.yml

Fleet's mapping of osquery schedule options: `snapshot: true` -> `logging: snapshot`,
`removed: false` -> `differential_ignore_removals`, otherwise `differential`.
`automations_enabled: true` sends results to Fleet's log destination, as the pack does.
Needs only the standard library (YAML is written by hand: every value is quoted JSON, which is
valid YAML).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACK = HERE / "mlsleuth-ml-hunt.conf"
OUT = HERE / "fleet" / "mlsleuth-ml-hunt.yml"


def fleet_yaml(pack: dict) -> str:
    docs = []
    for name, q in pack["queries"].items():
        if q.get("snapshot"):
            logging = "snapshot"
        elif q.get("removed", True):
            logging = "differential"
        else:
            logging = "differential_ignore_removals"
        spec = {
            "name": f"mlsleuth_{name}",
            "description": q["description"],
            "query": q["query"],
            "interval": q["interval"],
            "platform": q.get("platform", pack.get("platform", "linux")),
            "min_osquery_version": pack.get("version", ""),
            "logging": logging,
            "automations_enabled": True,
            "observer_can_run": True,
            "discard_data": False,
        }
        lines = ["apiVersion: v1", "kind: query", "spec:"]
        lines += [f"  {k}: {json.dumps(v)}" for k, v in spec.items()]
        docs.append("\n".join(lines) + "\n")
    return "---\n".join(docs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", type=Path, default=OUT)
    args = ap.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(fleet_yaml(json.loads(PACK.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
