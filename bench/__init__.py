"""Load and scale benchmarks (`make bench`): seeding, the runner, and the bench-only settings and views."""
