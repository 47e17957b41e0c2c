"""Route modules: each translates HTTP to a use case and back, nothing more."""
