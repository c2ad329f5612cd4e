"""Makes the repository root importable in tests (for `realnvp` and the app's `ui` helpers)."""
