//! Integration tests: the real server on port 0.
