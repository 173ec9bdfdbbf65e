from andon.tui.cli import main

main()
