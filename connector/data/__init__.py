"""Reference data shipped with Helloword (exchange rates for the embedded default)."""
