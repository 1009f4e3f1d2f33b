"""Compiled extensions (Cython wrappers over ``csrc/``).  Import them through
``fastnn.backend``; they trust their inputs and validate nothing."""
