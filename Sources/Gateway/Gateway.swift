// Gateway module; see docs/architecture.md.
