"""What operators see: log lines, the access log, Prometheus metrics across worker processes."""
