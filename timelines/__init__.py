"""mlsleuth.timelines: merge hosts into one timeline, correlate origin -> load -> follow-on,
run the findings rules and write the responder's exports.

``run.build_timeline`` is the entry point; ``frame`` (sorted columns + pandas frame),
``index``/``entities``/``signals`` (what links events), ``correlate`` (chains), ``chains``
(score and summary), ``rules`` (findings), ``fleet`` (stacking), ``exports/`` (CSV, XLSX,
Timesketch, findings.json, Parquet). docs/rules.md and docs/spreadsheet.md describe the output.
"""
