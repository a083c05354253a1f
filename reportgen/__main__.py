from reportgen.cli import run

if __name__ == "__main__":  # a spawned or forkserver child imports the main module again: it must not run a build
    run()
