"""A plug-in whose import fails: Proofdesk reports it and goes on with the other engines."""

raise RuntimeError("this plug-in is broken on purpose")
