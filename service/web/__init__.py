"""HTTP only: requests in, calls to the domain, responses out."""
