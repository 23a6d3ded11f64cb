"""`mlsleuth watch`: an inotify agent that journals file activity on ML hosts as it happens.

Modules: ``inotify`` (kernel interface over pyinotify's binding), ``locations`` (what to watch and
how a path is classified), ``journal`` (the append-only JSON-lines journal), ``watcher`` (watch
table and event handling), ``hasher`` (the bounded hash queue and alerts), ``isolate`` (the
inspection child process), ``verdicts`` (SHA-256 and the static verdict), ``agent`` (the
long-running loop behind the CLI). docs/watch.md describes the journal.
"""
