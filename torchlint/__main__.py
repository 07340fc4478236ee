from torchlint.cli import run_cli

run_cli()
