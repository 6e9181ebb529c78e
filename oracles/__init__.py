"""Independent expected numbers: each stream's aggregates computed in plain Python from the
events sent, sharing no code with the jobs they check. The tests, the chaos run and the
benchmarks all compare against these."""
