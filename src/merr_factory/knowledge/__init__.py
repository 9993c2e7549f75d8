"""Static domain tables (emotion labels, AU rules) kept as data, not code."""
