"""Developer tools, shipped with a checkout but not with the installed package.

Benchmarks, load generators, the simulator, synthetic seeding and the slow exact reference of
the engine, with their management commands. Nothing outside ``devtools`` and the tests imports
them; ``crowdvote.settings`` installs the app only when it is importable.
"""
