from reportgen.cli import main

if __name__ == "__main__":  # a spawned or forkserver child imports the main module again: it must not run a build
    raise SystemExit(main())
