"""Table questions answered by computation: a typed plan (``language``), checked against the table
(``validation``), executed on pandas (``executor``); the planner asks a model to write the plan."""
