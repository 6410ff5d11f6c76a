"""Logs engine: structured log records (timestamp, level, message, task_id, vm_id, fields) written by jobs,
VM lifecycle steps and executions; queried by level, text, time range and ids; tailed live over the bus.

models.py  the log_records table (full-text index: SQLite FTS5, PostgreSQL GIN on to_tsvector)
store.py   LogStore: write and query
loki.py    optional push to Grafana Loki's HTTP API
"""
