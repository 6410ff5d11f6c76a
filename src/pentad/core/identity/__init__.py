"""Identity: users, password hashing, JWT access/refresh tokens, API keys, roles and permissions.

Map: `models` (tables), `passwords` (argon2), `tokens` (JWT issue/verify), `permissions` (role table),
`principal` (who is calling), `service` (the operations), `dependencies` (FastAPI injection),
`bootstrap` (first admin, configured API-key users).
"""
