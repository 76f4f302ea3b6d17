"""``python -m benchmarks.scale_db``: see the package's doc."""

from benchmarks.scale_db.main import main

if __name__ == "__main__":
    main()
