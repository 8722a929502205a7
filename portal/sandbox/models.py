"""The sandbox's own tables (prefixed `sandbox_`)."""
