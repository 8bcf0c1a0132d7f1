"""Apache Beam stages that make the dataset: sources -> translate -> parse check -> sandbox
run and tests -> dedup and decontamination -> splits -> parquet shards, stats and card."""
