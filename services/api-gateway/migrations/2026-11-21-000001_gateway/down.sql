DROP TABLE api_keys;
DROP TABLE idempotency_keys;
