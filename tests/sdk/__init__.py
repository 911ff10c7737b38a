"""Real Restate Python SDK services (``restate-sdk`` 1.3.0) and a way to serve them."""
