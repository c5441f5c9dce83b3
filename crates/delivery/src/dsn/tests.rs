//! Tests of the DSN builder.
