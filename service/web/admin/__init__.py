"""The /admin dashboard: server-rendered pages, its password, sessions and CSRF."""
