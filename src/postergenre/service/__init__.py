"""The web service and page (`postergenre serve`). Build the app with `service.app.create_app`.

The defaults live here, in a module without heavy imports, so the CLI can show them in --help
without loading FastAPI or torch.
"""

DEFAULT_MAX_UPLOAD_BYTES = 10_000_000
# Two inference threads: one slow request (explain) does not hold up the others; more threads would only
# contend for the same cores, since torch already spreads one forward pass over them.
DEFAULT_MAX_CONCURRENCY = 2
DEFAULT_MAX_WAITING = 64  # requests waiting for a thread; beyond this the answer is 503 + Retry-After
