"""The application: argument dataclasses, recipes, the run_glue_ofa job, the other jobs, reports, the CLI."""
