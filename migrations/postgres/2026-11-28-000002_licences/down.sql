DROP TABLE idempotency_keys;
DROP TABLE licence_sequences;
DROP TABLE licences;
