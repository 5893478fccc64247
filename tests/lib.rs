//! Integration tests: run the real meshgen binary.
