from rawcolour.cli.main import run

run()
