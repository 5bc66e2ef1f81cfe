"""Runtime administration: clients, blocks, API tokens, administrators and the audit trail."""
