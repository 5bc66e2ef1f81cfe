"""GET /openapi.json: an OpenAPI 3.1 description of the public endpoints, kept by hand."""
