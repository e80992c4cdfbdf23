from weightmom.cli import main

raise SystemExit(main())
