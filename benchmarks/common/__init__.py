"""What the benchmark scripts share: machine facts and output (`machine`), the dev
collections (`devsets`), shared corpora and queries (`corpora`) and ranking helpers (`ranking`)."""
