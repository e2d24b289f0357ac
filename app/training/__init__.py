"""Training in the app: the Training screen (``screen``), the worker process (``process``).

Importing this package imports no Qt: ``command`` (how to start the worker) serves the CLI too.
"""
