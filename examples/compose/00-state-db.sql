-- docker-compose.yml: the PostgreSQL container also holds jiancha's state store (the
-- findings ledger), in its own database beside the demo hall's.
CREATE DATABASE jiancha_state;
