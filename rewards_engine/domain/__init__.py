"""Pure rules of the program: no I/O, no framework, fast to test."""
