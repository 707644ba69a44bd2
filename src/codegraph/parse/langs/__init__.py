"""Per-language hooks: import parsing and post-processing the queries cannot express."""
