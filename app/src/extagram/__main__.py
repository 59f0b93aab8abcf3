from extagram.cli import main

raise SystemExit(main())
