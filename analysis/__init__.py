"""Paper figures, alpha trajectories and an HTML report from result Parquet files alone (no torch, no Ray).

Entry point: `python -m analysis report RESULTS.parquet [MORE.parquet ...] --out DIR`, or
`analysis.report.build_report`.
"""
