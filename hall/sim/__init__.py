"""``hall simulate``: a simulated day through the real use cases, strategy against strategy.

``params`` (the documented parameters), ``scenario`` (the day's random inputs, drawn once),
``layouts`` (the strategies as hall configurations), ``engine`` (the discrete-event loop over a
real database), ``metrics`` (figures read back from it), ``erlang`` (the M/M/c reference),
``runner`` (all of it for one day) and ``report`` (table and JSON). See docs/simulate.md.
"""
