"""Python supply chain of a host: integrity of installed distributions against RECORD and
conda-meta, provenance (installer, direct_url.json, index settings, pip logs, conda channels),
index confusion, known-vulnerable or malicious versions (OSV exports and a curated ML table),
and the fleet comparison of package files across hosts. See docs/packages.md."""
