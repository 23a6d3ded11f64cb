"""Format writers for fixtures and the model-scanner corpus (bytes built from the specs).

* :mod:`.pickles`: opcode-level pickle builders (``reduce_call``, ``benign_state_dict``,
  ``prepend_call``, ``torch_pickle``) mirroring CPython's pickler;
* :mod:`.torch_zip`: ``write_torch_checkpoint``, byte-faithful to torch's zip writer.

Nothing here pickles a live object: dangerous calls exist only as bytes.
"""
