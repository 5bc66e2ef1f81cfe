"""HTTP only: requests in, calls to the core, responses out."""
